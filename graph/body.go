package graph

import (
	"bytes"
	"io"
)

// readAll reads a limited body into memory so gqlgen sees a complete
// request; the caller already wrapped it in http.MaxBytesReader.
func readAll(r io.ReadCloser, limit int64) ([]byte, error) {
	defer r.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(r, limit+1)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
