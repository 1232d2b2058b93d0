module gotrace.test/workloads

go 1.21
