package streams

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/entdb"
	"github.com/merchd/merchd/ent/entdb/entdbtest"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/stream"
	"github.com/merchd/merchd/ent/viewer"
)

// shop is a real database with one location and two products, each with
// two variants in stock there.
type shop struct {
	db       *ent.Client
	s        *Service
	location int
	products []*ent.Product
	variants [][]*ent.Variant // by product, by position
}

var t0 = time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)

func newShop(t *testing.T, dialect string) *shop {
	t.Helper()
	ctx := viewer.SystemContext(context.Background())
	db, err := entdb.Open(ctx, entdb.Config{URL: entdbtest.DatabaseURL(t, dialect)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sh := &shop{db: db.Client, s: New(db.Client, func() time.Time { return t0 })}
	sh.location = db.Client.Location.Create().SetCode("central").SetName("Central").SetKind(location.KindCENTRAL).SaveX(ctx).ID
	for i := range 2 {
		p := db.Client.Product.Create().SetTitle(fmt.Sprintf("Tee %d", i)).SetSlug(fmt.Sprintf("tee-%d", i)).SaveX(ctx)
		var vs []*ent.Variant
		for j := range 2 {
			v := db.Client.Variant.Create().SetProductID(p.ID).SetSku(fmt.Sprintf("TEE-%d-%d", i, j)).SetTitle(fmt.Sprintf("Size %d", j)).
				SetPriceAmount(2500).SetCurrency("EUR").SetPosition(j).SaveX(ctx)
			db.Client.Stock.Create().SetVariantID(v.ID).SetLocationID(sh.location).SetAvailable(10*i + j + 1).SaveX(ctx)
			vs = append(vs, v)
		}
		sh.products = append(sh.products, p)
		sh.variants = append(sh.variants, vs)
	}
	return sh
}

func staff() context.Context {
	return viewer.NewContext(context.Background(), viewer.Viewer{Role: viewer.Staff})
}

// stream creates an idle stream pinning the products.
func (sh *shop) stream(t *testing.T, pinned ...int) int {
	t.Helper()
	st, _, err := sh.s.CreateStream(staff(), "Friday drop live", pinned)
	if err != nil {
		t.Fatal(err)
	}
	return st.ID
}

func (sh *shop) overlay(t *testing.T, id int) *Overlay {
	t.Helper()
	o, err := sh.s.Overlay(context.Background(), id, sh.location, nil)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func eachDialect(t *testing.T, f func(t *testing.T, sh *shop)) {
	for _, d := range entdbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) { f(t, newShop(t, d)) })
	}
}

// TestOverlaySeqPerStream: each stamped overlay takes the stream's next
// number, one more than the last, and one stream's overlays do not move
// another's numbering.
func TestOverlaySeqPerStream(t *testing.T) {
	eachDialect(t, func(t *testing.T, sh *shop) {
		a, b := sh.stream(t, sh.products[0].ID), sh.stream(t, sh.products[1].ID)
		steps := []struct {
			stream int
			want   int
		}{{a, 1}, {a, 2}, {b, 1}, {a, 3}, {b, 2}, {b, 3}, {b, 4}, {a, 4}}
		for i, step := range steps {
			if got := sh.overlay(t, step.stream).Seq; got != step.want {
				t.Fatalf("step %d (stream %d): seq %d, want %d", i, step.stream, got, step.want)
			}
		}
		// A failed read takes no number.
		if _, err := sh.s.Overlay(context.Background(), a+b+1000, sh.location, nil); err == nil {
			t.Fatal("overlay of a stream that does not exist: no error")
		}
		if got := sh.overlay(t, a).Seq; got != 5 {
			t.Fatalf("after a failed read of another stream: seq %d, want 5", got)
		}
	})
}

// TestOverlaySeqConcurrent: overlays stamped at once on two streams take
// each of their stream's numbers exactly once, with none skipped (run with
// -race).
func TestOverlaySeqConcurrent(t *testing.T) {
	const workers, each = 8, 12
	eachDialect(t, func(t *testing.T, sh *shop) {
		ids := []int{sh.stream(t, sh.products[0].ID), sh.stream(t, sh.products[0].ID, sh.products[1].ID)}
		var (
			mu   sync.Mutex
			got  = map[int][]int{}
			wg   sync.WaitGroup
			errs = make(chan error, workers)
		)
		start := make(chan struct{})
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := range each {
					id := ids[(w+i)%len(ids)]
					o, err := sh.s.Overlay(context.Background(), id, sh.location, nil)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					got[id] = append(got[id], o.Seq)
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, id := range ids {
			seqs := slices.Sorted(slices.Values(got[id]))
			n := workers * each / len(ids)
			if len(seqs) != n {
				t.Fatalf("stream %d: %d overlays, want %d", id, len(seqs), n)
			}
			for i, seq := range seqs {
				if seq != i+1 {
					t.Fatalf("stream %d: numbers %v, want 1…%d each once", id, seqs, n)
				}
			}
		}
	})
}

// TestOverlaySeqForgottenWhenStreamEnds: once an overlay shows the stream
// ended, the Service keeps nothing for it, and later overlays of it still
// number above everything it was given.
func TestOverlaySeqForgottenWhenStreamEnds(t *testing.T) {
	eachDialect(t, func(t *testing.T, sh *shop) {
		a, b := sh.stream(t, sh.products[0].ID), sh.stream(t, sh.products[1].ID)
		sh.overlay(t, a)
		sh.overlay(t, a)
		sh.overlay(t, b)
		if !sh.s.seqs.tracked(a) || !sh.s.seqs.tracked(b) {
			t.Fatal("streams not ended are not tracked")
		}
		if _, err := sh.s.End(staff(), a); err != nil {
			t.Fatal(err)
		}
		ended := sh.overlay(t, a)
		if ended.Stream.State != stream.StateENDED || ended.Seq != 3 {
			t.Fatalf("overlay after the end: state %s seq %d, want ENDED 3", ended.Stream.State, ended.Seq)
		}
		if sh.s.seqs.tracked(a) {
			t.Fatal("an ended stream's numbering is still kept")
		}
		// The publisher of an ended stream may still leave, and its viewers
		// too: those overlays must not go back to 1, or clients drop them.
		for want := 4; want <= 5; want++ {
			if got := sh.overlay(t, a).Seq; got != want {
				t.Fatalf("overlay of the ended stream: seq %d, want %d", got, want)
			}
			if sh.s.seqs.tracked(a) {
				t.Fatal("an ended stream's numbering came back")
			}
		}
		if got := sh.overlay(t, b).Seq; got != 2 || !sh.s.seqs.tracked(b) {
			t.Fatalf("the other stream: seq %d (tracked %v), want 2, tracked", got, sh.s.seqs.tracked(b))
		}
		if n := len(sh.s.seqs.last); n != 1 {
			t.Fatalf("%d streams tracked, want 1", n)
		}
	})
}

// relay knows one stream, by its global id.
type relay struct {
	stream  string
	viewers int
	media   float64
	rtp     uint32
	live    bool
}

func (r relay) Viewers(s string) int {
	if s != r.stream {
		return 0
	}
	return r.viewers
}

func (r relay) MediaTime(s string) (float64, bool) { return r.media, r.live && s == r.stream }

func (r relay) RTPTimestamp(s string) (uint32, bool) { return r.rtp, r.live && s == r.stream }

// TestOverlaySnapshot: the overlay shows the pinned products in pinned
// order with their variants' stock at the shop's location, the highlighted
// product, each product's latest drop, and what the relay knows.
func TestOverlaySnapshot(t *testing.T) {
	eachDialect(t, func(t *testing.T, sh *shop) {
		ctx := viewer.SystemContext(context.Background())
		p0, p1 := sh.products[0], sh.products[1]
		id := sh.stream(t, p1.ID, p0.ID)
		if _, err := sh.s.Highlight(staff(), id, &p0.ID); err != nil {
			t.Fatal(err)
		}
		// Stock elsewhere is not the shop's.
		hub := sh.db.Location.Create().SetCode("hub").SetName("Hub").SetKind(location.KindHUB).SaveX(ctx)
		sh.db.Stock.Create().SetVariantID(sh.variants[1][0].ID).SetLocationID(hub.ID).SetAvailable(99).SaveX(ctx)
		for i, opens := range []time.Time{t0, t0.Add(time.Hour), t0.Add(-time.Hour)} {
			sh.db.Drop.Create().SetTitle(fmt.Sprintf("Drop %d", i)).SetOpensAt(opens).SetClosesAt(opens.Add(24 * time.Hour)).
				SetCap(5).AddVariants(sh.variants[1][0]).SaveX(ctx)
		}

		o, err := sh.s.Overlay(context.Background(), id, sh.location, relay{stream: gid.Encode(id), viewers: 7, media: 12.5, rtp: 90000, live: true})
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			product string
			avail   []int
			drop    string
		}
		var got []row
		for _, p := range o.Pinned {
			r := row{product: p.Product.Title}
			for _, v := range p.Variants {
				r.avail = append(r.avail, v.Available)
			}
			if p.Drop != nil {
				r.drop = p.Drop.Title
			}
			got = append(got, r)
		}
		want := []row{{"Tee 1", []int{11, 12}, "Drop 1"}, {"Tee 0", []int{1, 2}, ""}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("pinned: %v, want %v", got, want)
		}
		if o.Highlighted == nil || o.Highlighted.ID != p0.ID {
			t.Fatalf("highlighted: %v, want %s", o.Highlighted, p0.Title)
		}
		if o.Viewers != 7 || o.MediaTime == nil || *o.MediaTime != 12.5 || o.RTPTimestamp == nil || *o.RTPTimestamp != 90000 {
			t.Fatalf("relay: viewers %d media %v rtp %v", o.Viewers, o.MediaTime, o.RTPTimestamp)
		}

		// Not live: no clocks. Nothing pinned: an empty list, not nil.
		if _, err := sh.s.PinProducts(staff(), id, nil); err != nil {
			t.Fatal(err)
		}
		o, err = sh.s.Overlay(context.Background(), id, sh.location, relay{stream: gid.Encode(id), viewers: 3})
		if err != nil {
			t.Fatal(err)
		}
		if o.Pinned == nil || len(o.Pinned) != 0 || o.Highlighted != nil || o.Viewers != 3 || o.MediaTime != nil || o.RTPTimestamp != nil {
			t.Fatalf("idle, nothing pinned: %+v", o)
		}
	})
}
