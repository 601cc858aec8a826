module github.com/sitrep-ir/sitrep

go 1.26.0
