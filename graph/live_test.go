package graph_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/merchd/merchd/ent/stream"
	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/live/livetest"
)

type overlayEvent struct {
	Data struct {
		StreamOverlay struct {
			Seq         int
			Kind        string
			MediaTime   *float64
			ViewerCount int
			Stream      struct{ State string }
			Highlighted *struct{ Title string }
			Pinned      []struct {
				Product  struct{ Title string }
				Variants []struct{ Available int }
			}
		}
	}
}

func nextOverlay(t *testing.T, ws *wsClient) overlayEvent {
	t.Helper()
	var ev overlayEvent
	if err := json.Unmarshal([]byte(ws.next("o")), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestStreamOverlayAndAttribution(t *testing.T) {
	e := graphtest.New(t, graphtest.Options{})
	v := newVariant(t, e, 12, 2500, "EUR")
	var prod struct {
		Node struct{ Product struct{ ID string } }
	}
	e.Do(t, "", `query($id: ID!) { node(id: $id) { ... on Variant { product { id } } } }`, map[string]any{"id": v}).Decode(t, &prod)
	pid := prod.Node.Product.ID

	var cs struct {
		CreateStream struct {
			Stream struct {
				ID, WhipURL, WhepURL, State string
			}
			StreamKey string
		}
	}
	e.Staff(t, `mutation($p: ID!) { createStream(input: {title: "Friday drop live", pinnedProductIds: [$p]}) { stream { id whipURL whepURL state } streamKey } }`,
		map[string]any{"p": pid}, &cs)
	st := cs.CreateStream.Stream
	if st.State != "IDLE" || !strings.HasPrefix(cs.CreateStream.StreamKey, "msk_") || st.WhipURL != "/live/"+st.ID+"/whip" {
		t.Fatalf("created: %+v", cs)
	}
	tok, _ := e.SignUp(t, "viewer@example.com")
	wantCode(t, e.Do(t, tok, `mutation { createStream(input: {title: "mine"}) { streamKey } }`, nil), "FORBIDDEN")

	ws := dialWS(t, e, "")
	ws.subscribe("o", `subscription($s: ID!) { streamOverlay(streamId: $s) { seq kind mediaTime viewerCount stream { state } highlighted { title }
	  pinned { product { title } variants { available } } } }`, map[string]any{"s": st.ID})
	snap := nextOverlay(t, ws).Data.StreamOverlay
	if snap.Kind != "SNAPSHOT" || len(snap.Pinned) != 1 || snap.Pinned[0].Variants[0].Available != 12 || snap.MediaTime != nil {
		t.Fatalf("snapshot: %+v", snap)
	}

	// Another client buys from the stream: the overlay follows. Buying from
	// a stream needs it live (attribution pays the creator).
	buy := map[string]any{"i": map[string]any{"variantId": v, "quantity": 3, "streamId": st.ID, "idempotencyKey": "live-buy"}}
	wantCode(t, e.Do(t, tok, addToCartMutation, buy), "STREAM_NOT_LIVE")
	setStreamState(t, e, st.ID, stream.StateLIVE)
	r := e.Do(t, tok, addToCartMutation, buy)
	wantCode(t, r, "")
	setStreamState(t, e, st.ID, stream.StateIDLE) // as it was: the publisher comes below
	ch := nextOverlay(t, ws).Data.StreamOverlay
	if ch.Kind != "CHANGE" || ch.Seq <= snap.Seq || ch.Pinned[0].Variants[0].Available != 9 {
		t.Fatalf("after a purchase: %+v (snapshot seq %d)", ch, snap.Seq)
	}
	e.Staff(t, `mutation($s: ID!, $p: ID!) { highlightProduct(input: {streamId: $s, productId: $p}) { stream { id } } }`,
		map[string]any{"s": st.ID, "p": pid}, &struct{}{})
	hl := nextOverlay(t, ws).Data.StreamOverlay
	if hl.Highlighted == nil || hl.Seq <= ch.Seq {
		t.Fatalf("after highlighting: %+v", hl)
	}

	// The order remembers the stream it came from.
	var c struct{ Cart struct{ ID string } }
	e.Do(t, tok, `{ cart { id } }`, nil).Decode(t, &c)
	var out checkoutOut
	e.Do(t, tok, checkoutMutation, map[string]any{"i": map[string]any{"cartId": c.Cart.ID, "payWith": map[string]any{"card": true}, "idempotencyKey": "live-co"}}).Decode(t, &out)
	var os struct {
		Node struct{ Stream *struct{ ID string } }
	}
	e.Do(t, tok, `query($id: ID!) { node(id: $id) { ... on Order { stream { id } } } }`, map[string]any{"id": out.Checkout.Order.ID}).Decode(t, &os)
	if os.Node.Stream == nil || os.Node.Stream.ID != st.ID {
		t.Fatalf("order's stream: %+v", os)
	}

	// Going live with the stream key: the overlay carries media time and
	// the viewer count.
	if _, code, _ := livetest.Publish(t, e.Base, st.ID, "msk_wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d", code)
	}
	pub, code, _ := livetest.Publish(t, e.Base, st.ID, cs.CreateStream.StreamKey)
	if code != http.StatusCreated {
		t.Fatalf("publish: %d", code)
	}
	defer pub.Close()
	w, code, _ := livetest.Watch(t, e.Base, st.ID, true)
	if code != http.StatusCreated {
		t.Fatalf("watch: %d", code)
	}
	select {
	case <-w.FirstVideo:
	case <-time.After(10 * time.Second):
		t.Fatal("the viewer got no video")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev := nextOverlay(t, ws).Data.StreamOverlay
		if ev.Stream.State == "LIVE" && ev.ViewerCount == 1 && ev.MediaTime != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overlay never showed the live stream with its viewer: %+v", ev)
		}
		if ev.Stream.State != "LIVE" || ev.ViewerCount != 1 {
			continue
		}
		// Live with a viewer but no media time yet: a change will come with the next stock move.
		setStock(t, e, v, 8, "nudge"+time.Now().String())
	}

	// A rotated key locks the old one out.
	var rk struct {
		RotateStreamKey struct{ StreamKey string }
	}
	e.Staff(t, `mutation($s: ID!) { rotateStreamKey(input: {streamId: $s}) { streamKey } }`, map[string]any{"s": st.ID}, &rk)
	pub.Close()
	if _, code, _ := livetest.Publish(t, e.Base, st.ID, cs.CreateStream.StreamKey); code != http.StatusUnauthorized {
		t.Fatalf("old key after rotation: %d", code)
	}
}
