module gotrace.test/workloads

go 1.23
