module gotrace.test/gosymfixture

go 1.21
