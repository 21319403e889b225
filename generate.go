package main

// ent first (it also writes graph/ent.graphqls), then gqlgen.
//go:generate go run -C ent entc.go
//go:generate go tool gqlgen generate
