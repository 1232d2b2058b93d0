module gotrace.test/dwarfoffsets

go 1.21
