package live

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// maxSDP bounds an offer; real ones are a few KiB.
const maxSDP = 64 << 10

// Handler serves WHIP and WHEP:
//
//	POST   /live/{stream}/whip             offer → answer (Bearer stream key), 201 + Location
//	PATCH  /live/{stream}/whip/{session}   trickle ICE (application/trickle-ice-sdpfrag)
//	DELETE /live/{stream}/whip/{session}   stop publishing
//	POST   /live/{stream}/whep             offer → answer, 201 + Location
//	PATCH  /live/{stream}/whep/{session}
//	DELETE /live/{stream}/whep/{session}
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /live/{stream}/whip", func(w http.ResponseWriter, req *http.Request) {
		key, _ := bearer(req.Header.Get("Authorization"))
		r.offer(w, req, "whip", func(ctx context.Context, offer string) (string, string, error) {
			if key == "" {
				return "", "", ErrUnauthorized
			}
			return r.Publish(ctx, req.PathValue("stream"), key, offer)
		})
	})
	mux.HandleFunc("POST /live/{stream}/whep", func(w http.ResponseWriter, req *http.Request) {
		r.offer(w, req, "whep", func(ctx context.Context, offer string) (string, string, error) {
			return r.viewOrRedirect(ctx, req, offer)
		})
	})
	for _, kind := range []string{"whip", "whep"} {
		mux.HandleFunc("DELETE /live/{stream}/"+kind+"/{session}", func(w http.ResponseWriter, req *http.Request) {
			var err error
			if kind == "whip" {
				err = r.EndPublish(req.PathValue("stream"), req.PathValue("session"))
			} else {
				err = r.EndView(req.PathValue("stream"), req.PathValue("session"))
			}
			if err != nil {
				writeError(w, err)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		mux.HandleFunc("PATCH /live/{stream}/"+kind+"/{session}", func(w http.ResponseWriter, req *http.Request) {
			pc, err := r.sessionPC(req.PathValue("stream"), req.PathValue("session"))
			if err != nil {
				writeError(w, err)
				return
			}
			if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/trickle-ice-sdpfrag") {
				http.Error(w, "send application/trickle-ice-sdpfrag", http.StatusUnsupportedMediaType)
				return
			}
			body, err := io.ReadAll(io.LimitReader(req.Body, maxSDP))
			if err != nil {
				http.Error(w, "unreadable body", http.StatusBadRequest)
				return
			}
			for _, line := range strings.Split(string(body), "\n") {
				line = strings.TrimSpace(line)
				if cand, ok := strings.CutPrefix(line, "a=candidate:"); ok {
					if err := pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: "candidate:" + cand}); err != nil {
						http.Error(w, "unusable ICE candidate", http.StatusBadRequest)
						return
					}
				}
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	return withCORS(mux)
}

func (r *Relay) offer(w http.ResponseWriter, req *http.Request, kind string, do func(context.Context, string) (string, string, error)) {
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/sdp") {
		http.Error(w, "send the SDP offer as application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxSDP+1))
	if err != nil || len(body) > maxSDP || len(body) == 0 {
		http.Error(w, "the SDP offer is missing or too large", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	answer, session, err := do(ctx, string(body))
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/live/"+req.PathValue("stream")+"/"+kind+"/"+session)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

func writeError(w http.ResponseWriter, err error) {
	if loc, ok := isRedirect(err); ok { // another node serves this viewer (cascade.go)
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	switch {
	case errors.Is(err, ErrUnauthorized):
		w.Header().Set("WWW-Authenticate", `Bearer realm="merchd live"`)
		http.Error(w, "wrong or missing stream key", http.StatusUnauthorized)
	case errors.Is(err, ErrNoStream):
		http.Error(w, "no such stream or session", http.StatusNotFound)
	case errors.Is(err, ErrNotLive):
		http.Error(w, "the stream is not live right now", http.StatusConflict)
	case errors.Is(err, ErrBusy):
		http.Error(w, "the stream already has a publisher", http.StatusConflict)
	case errors.Is(err, ErrStreamFull):
		w.Header().Set("Retry-After", "30")
		http.Error(w, "the stream has as many viewers as it can take; try again shortly", http.StatusServiceUnavailable)
	case errors.Is(err, ErrTooManyViewers):
		w.Header().Set("Retry-After", "30")
		http.Error(w, "too many viewers from your address; close another player and try again", http.StatusTooManyRequests)
	case errors.Is(err, ErrNotANode):
		http.Error(w, "not a live node of this shop", http.StatusForbidden)
	case errors.Is(err, ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		http.Error(w, "relaying is unavailable right now; try again", http.StatusServiceUnavailable)
	case errors.Is(err, errBadOffer):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, "relay error", http.StatusInternalServerError)
	}
}

// clientIP is the caller's address, as the rest of merchd sees it.
func clientIP(req *http.Request) string {
	if host, _, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		return host
	}
	return req.RemoteAddr
}

func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// withCORS lets players on other origins (and OBS browser sources) use WHEP.
func withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Location")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
