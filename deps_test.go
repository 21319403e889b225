package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/merchd/merchd"

// allowedDeps is DESIGN.md's dependency direction: which of our top-level
// packages each may import (outside tests). ent imports nothing of ours;
// hardware and live are leaves; only main wires everything.
var allowedDeps = map[string][]string{
	"ent":      {"ent"},
	"hardware": {"hardware"},
	"live":     {"live"},
	"checkout": {"checkout", "ent"},
	"edge":     {"edge", "ent", "checkout", "hardware"},
	"graph":    {"graph", "checkout", "live", "ent"},
	"web":      {"web"},
}

func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		top := topDir(p.ImportPath)
		allowed, ok := allowedDeps[top]
		if !ok {
			continue // main and anything new: add it to the table
		}
		checked++
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := topDir(imp)
			if !contains(allowed, dep) {
				t.Errorf("%s imports %s: %s may only import %v", p.ImportPath, imp, top, allowed)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no packages checked")
	}
}

func topDir(importPath string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
	top, _, _ := strings.Cut(rest, "/")
	return top
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
