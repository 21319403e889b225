package edge_test

import (
	"testing"

	"github.com/merchd/merchd/graph/graphtest"
)

func TestMain(m *testing.M) { graphtest.Main(m) }
