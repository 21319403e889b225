package graph

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders for wellFormed
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/merchd/merchd/checkout"
)

// DefaultMaxUploadBytes bounds one uploaded image.
const DefaultMaxUploadBytes = 5 << 20

// imageTypes are the pictures the shop takes, by sniffed content type,
// with the extension their stored name gets.
var imageTypes = map[string]string{
	"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif",
}

var (
	extTypes   = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp", ".gif": "image/gif"}
	uploadName = regexp.MustCompile(`^[0-9a-f]{64}\.(png|jpg|webp|gif)$`)
)

// Uploads stores product images on local disk and serves them back.
//
//	POST /uploads          the image as the request body; a staff bearer
//	                       token (owner or staff); answers 201 {"url": …}
//	GET  /uploads/{name}   the stored image, with its type and nosniff
//
// A file is named by the SHA-256 of its bytes, so uploading the same
// picture twice stores it once and gives the same URL. Refusals are JSON
// like the API's: 401 UNAUTHENTICATED without a valid token, 403
// FORBIDDEN for clerks and customers, 413 BAD_USER_INPUT above the size
// limit, 415 BAD_USER_INPUT for anything but PNG, JPEG, WebP or GIF.
func (s *Server) Uploads(dir string, maxBytes int64) (http.Handler, error) {
	if dir == "" {
		return nil, errors.New("uploads: no directory")
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxUploadBytes
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("uploads: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /uploads", func(w http.ResponseWriter, r *http.Request) { s.upload(w, r, dir, maxBytes) })
	mux.HandleFunc("GET /uploads/{name}", func(w http.ResponseWriter, r *http.Request) { serveUpload(w, r, dir) })
	return mux, nil
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request, dir string, maxBytes int64) {
	if !s.cors(w, r) {
		return
	}
	if r.Header.Get("Authorization") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="merchd"`)
		writeGraphQLError(w, http.StatusUnauthorized, CodeUnauthenticated, "uploading needs a staff token: Authorization: Bearer <token>")
		return
	}
	ctx, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	// An upload is a staff write like any other: audited before it runs.
	finish, err := s.res.auditBegin(ctx, "uploadImage", "", fmt.Sprintf(`{"contentType":%q,"contentLength":%d}`, r.Header.Get("Content-Type"), r.ContentLength))
	if err != nil {
		id := errorID()
		s.log.ErrorContext(ctx, "upload audit", "error_id", id, "error", err)
		writeGraphQLError(w, http.StatusInternalServerError, CodeInternal, "internal error (id "+id+")")
		return
	}
	sw := &uploadStatus{ResponseWriter: w, status: http.StatusOK}
	w = sw
	defer func() { finish(sw.outcome()) }()
	if err := checkout.RequireStaff(ctx); err != nil {
		code, msg, _ := checkout.Public(err)
		writeGraphQLError(w, http.StatusForbidden, code, "only owners and staff may upload images: "+msg)
		return
	}
	tooBig := func() {
		writeGraphQLError(w, http.StatusRequestEntityTooLarge, CodeBadUserInput,
			fmt.Sprintf("the image is larger than %d MB", maxBytes>>20))
	}
	if r.ContentLength > maxBytes {
		tooBig()
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooBig()
			return
		}
		writeGraphQLError(w, http.StatusBadRequest, CodeBadUserInput, "could not read the image")
		return
	}
	ext, ok := imageTypes[http.DetectContentType(body)]
	if len(body) == 0 || !ok || wellFormed(body, ext) != nil {
		writeGraphQLError(w, http.StatusUnsupportedMediaType, CodeBadUserInput, "not an image: upload a PNG, JPEG, WebP or GIF file")
		return
	}
	sum := sha256.Sum256(body)
	name := hex.EncodeToString(sum[:]) + ext
	if err := storeFile(dir, name, body); err != nil {
		id := errorID()
		s.log.ErrorContext(ctx, "store upload", "error_id", id, "error", err)
		writeGraphQLError(w, http.StatusInternalServerError, CodeInternal, "internal error (id "+id+")")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/uploads/"+name)
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"url": "/uploads/" + name, "contentType": extTypes[ext], "bytes": len(body)})
}

// uploadStatus keeps an upload's answer for its audit entry.
type uploadStatus struct {
	http.ResponseWriter
	status int
}

func (u *uploadStatus) WriteHeader(code int) { u.status = code; u.ResponseWriter.WriteHeader(code) }

// outcome is the audit's word for the answer: OK, or the refusal's code.
func (u *uploadStatus) outcome() string {
	switch {
	case u.status < 300:
		return "OK"
	case u.status == http.StatusForbidden:
		return CodeForbidden
	case u.status >= 500:
		return CodeInternal
	default:
		return CodeBadUserInput
	}
}

// maxImageSide bounds an upload's width and height (pixels).
const maxImageSide = 12000

// wellFormed checks more than the first bytes: a PNG, JPEG or GIF must
// decode (its pixels, within maxImageSide a side), a WebP must be a RIFF
// container of exactly its length holding a VP8/VP8L/VP8X chunk. A file
// that only starts like an image (a signature, then HTML) is refused.
func wellFormed(body []byte, ext string) error {
	if ext == ".webp" {
		if len(body) < 20 || string(body[:4]) != "RIFF" || string(body[8:12]) != "WEBP" ||
			int(binary.LittleEndian.Uint32(body[4:8])) != len(body)-8 {
			return errors.New("not a WebP container")
		}
		switch string(body[12:16]) {
		case "VP8 ", "VP8L", "VP8X":
			return nil
		}
		return errors.New("no WebP image chunk")
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil {
		return err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxImageSide || cfg.Height > maxImageSide {
		return fmt.Errorf("%d×%d pixels", cfg.Width, cfg.Height)
	}
	_, _, err = image.Decode(bytes.NewReader(body))
	return err
}

// storeFile writes body as dir/name through a temporary file and a
// rename, so a reader never sees half an image.
func storeFile(dir, name string, body []byte) error {
	final := filepath.Join(dir, name)
	if _, err := os.Stat(final); err == nil {
		return nil // same bytes, same name: already stored
	}
	f, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o640); err != nil {
		return err
	}
	return os.Rename(f.Name(), final)
}

func serveUpload(w http.ResponseWriter, r *http.Request, dir string) {
	name := r.PathValue("name")
	if !uploadName.MatchString(name) {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", extTypes[name[strings.LastIndexByte(name, '.'):]])
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", st.ModTime(), f)
}
