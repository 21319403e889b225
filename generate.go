package main

// ent first (it writes graph/ent.graphqls), then gqlgen.
//go:generate go generate ./ent
//go:generate go tool gqlgen generate
