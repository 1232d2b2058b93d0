// dwarfoffsets: where a Go binary keeps the goroutine id, as Go's own debug/elf and
// debug/dwarf read its DWARF: the offset of runtime.g.goid. The oracle of the tests of
// gotrace's DWARF reader (model/tests/godwarf.rs), run with the toolchain that built
// the binary.
//
//	dwarfoffsets BINARY   prints {"dwarf":true,"g_goid":152}, or
//	                      {"dwarf":false,...} when BINARY has no DWARF
package main

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
)

type offsets struct {
	Dwarf bool  `json:"dwarf"`
	GGoid int64 `json:"g_goid"`
}

func main() {
	if len(os.Args) != 2 {
		fail(fmt.Errorf("usage: dwarfoffsets BINARY"))
	}
	f, err := elf.Open(os.Args[1])
	if err != nil {
		fail(err)
	}
	defer f.Close()
	if f.Section(".debug_info") == nil && f.Section(".zdebug_info") == nil {
		emit(offsets{})
		return
	}
	d, err := f.DWARF()
	if err != nil {
		fail(err)
	}
	var g *dwarf.StructType
	r := d.Reader()
	for g == nil {
		e, err := r.Next()
		if err != nil {
			fail(err)
		}
		if e == nil {
			break
		}
		if e.Tag != dwarf.TagStructType {
			continue
		}
		if name, _ := e.Val(dwarf.AttrName).(string); name != "runtime.g" {
			continue
		}
		t, err := d.Type(e.Offset)
		if err != nil {
			fail(fmt.Errorf("runtime.g: %w", err))
		}
		st, ok := t.(*dwarf.StructType)
		if !ok {
			fail(fmt.Errorf("runtime.g is a %T", t))
		}
		g = st
	}
	emit(offsets{
		Dwarf: true,
		GGoid: field(g, "runtime.g", "goid"),
	})
}

// field is the offset of member name of struct s (called what).
func field(s *dwarf.StructType, what, name string) int64 {
	if s == nil {
		fail(fmt.Errorf("no %s in the DWARF", what))
	}
	for _, f := range s.Field {
		if f.Name == name {
			return f.ByteOffset
		}
	}
	fail(fmt.Errorf("%s has no field %s", what, name))
	return 0
}

func emit(o offsets) {
	if err := json.NewEncoder(os.Stdout).Encode(o); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dwarfoffsets:", err)
	os.Exit(1)
}
