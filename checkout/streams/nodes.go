package streams

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/livenode"
	"github.com/merchd/merchd/ent/livenodestream"
	"github.com/merchd/merchd/ent/viewer"
)

// Live nodes: every `merchd serve` on PostgreSQL carrying live streams
// registers itself in the shared database with a heartbeat, its load and
// the streams it carries (origin or relay), so that nodes find each other
// without a protocol of their own. A node whose heartbeat is older than
// NodeConfig.Stale is dead: ignored by everybody, and its rows deleted by
// the first node to notice.

// NodeConfig configures this node's registration.
type NodeConfig struct {
	// Capacity is the WHEP sessions this node takes before it sends new
	// viewers elsewhere.
	Capacity int
	// Heartbeat is how often the node writes its row; Stale is how old a
	// row may be before its node counts as dead.
	Heartbeat, Stale time.Duration
}

// Node is another live node as last registered.
type Node struct {
	URL            string
	Load, Capacity int
	// Role is how it carries the stream asked about: "", "ORIGIN", "RELAY".
	Role string
}

// CarriedStream is a stream this node carries.
type CarriedStream struct {
	Stream  string // global id
	Origin  bool   // the publisher is here (else relayed)
	Viewers int    // connected viewers here
}

// NodeSource is what the node reports: the relay.
type NodeSource interface {
	Load() int
	CarriedStreams() []CarriedStream
}

// Nodes is this node's registration and its view of the others.
type Nodes struct {
	db   *ent.Client
	cfg  NodeConfig
	id   string
	log  *slog.Logger
	wake chan struct{}
	now  func() time.Time
	checkout.Notifier
	written map[string]int // viewers per stream as last written
	url     string         // set by Run
	pullKey string         // this node's secret for its pulls
}

// NewNodes registers nothing yet: Run does. n announces viewer counts that
// changed (nil: none).
func NewNodes(db *ent.Client, cfg NodeConfig, n checkout.Notifier, log *slog.Logger) *Nodes {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.Stale <= 0 {
		cfg.Stale = 3 * time.Second
	}
	b := make([]byte, 12+24)
	_, _ = rand.Read(b)
	return &Nodes{db: db, cfg: cfg, id: hex.EncodeToString(b[:12]), pullKey: hex.EncodeToString(b[12:]), log: log, wake: make(chan struct{}, 1),
		now: func() time.Time { return time.Now().UTC() }, Notifier: n, written: map[string]int{}}
}

// ID is this node's id in the registry.
func (n *Nodes) ID() string { return n.id }

// Changed asks for an early write (a viewer came or went, a stream
// started or ended).
func (n *Nodes) Changed() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run registers the node, reachable at url (its base URL as viewers and
// other nodes reach it), and keeps its rows fresh until ctx ends; then it
// deletes them, so the others stop sending viewers here at once.
func (n *Nodes) Run(ctx context.Context, url string, src NodeSource) {
	n.url = url
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	for {
		if err := n.beat(ctx, src); err != nil && ctx.Err() == nil {
			n.log.Warn("live: node heartbeat failed", "error", err)
		}
		select {
		case <-ctx.Done():
			sys := viewer.SystemContext(context.WithoutCancel(ctx))
			_, _ = n.db.LiveNodeStream.Delete().Where(livenodestream.Node(n.id)).Exec(sys)
			_, _ = n.db.LiveNode.Delete().Where(livenode.Node(n.id)).Exec(sys)
			n.announce(ctx, keys(n.written))
			return
		case <-t.C:
		case <-n.wake:
			// Let a burst of joins settle into one write.
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// beat writes this node's row and streams and deletes dead nodes' rows.
func (n *Nodes) beat(ctx context.Context, src NodeSource) error {
	sys := viewer.SystemContext(ctx)
	now := n.now()
	load := src.Load()
	updated, err := n.db.LiveNode.Update().Where(livenode.Node(n.id)).
		SetHeartbeatAt(now).SetViewers(load).SetCapacity(n.cfg.Capacity).SetURL(n.url).Save(sys)
	if err != nil {
		return err
	}
	if updated == 0 { // first beat, or deleted as dead after a long pause
		if err := n.db.LiveNode.Create().SetNode(n.id).SetURL(n.url).SetPullKey(n.pullKey).SetStartedAt(now).SetHeartbeatAt(now).
			SetViewers(load).SetCapacity(n.cfg.Capacity).Exec(sys); err != nil {
			return err
		}
	}
	carried := src.CarriedStreams()
	ids := make([]string, 0, len(carried))
	var changed []string
	for _, c := range carried {
		role := livenodestream.RoleRELAY
		if c.Origin {
			role = livenodestream.RoleORIGIN
		}
		if err := n.db.LiveNodeStream.Create().SetNode(n.id).SetStream(c.Stream).SetRole(role).SetViewers(c.Viewers).
			OnConflictColumns(livenodestream.FieldNode, livenodestream.FieldStream).
			Update(func(u *ent.LiveNodeStreamUpsert) { u.SetRole(role).SetViewers(c.Viewers) }).Exec(sys); err != nil {
			return err
		}
		ids = append(ids, c.Stream)
		if w, ok := n.written[c.Stream]; !ok || w != c.Viewers {
			changed = append(changed, c.Stream)
		}
	}
	if _, err := n.db.LiveNodeStream.Delete().Where(livenodestream.Node(n.id), livenodestream.StreamNotIn(ids...)).Exec(sys); err != nil {
		return err
	}
	next := make(map[string]int, len(carried))
	for _, c := range carried {
		next[c.Stream] = c.Viewers
	}
	for s, w := range n.written {
		if _, ok := next[s]; !ok && w > 0 {
			changed = append(changed, s)
		}
	}
	n.written = next

	// Dead nodes: their rows go, and the counts of their streams change.
	dead, err := n.db.LiveNode.Query().Where(livenode.HeartbeatAtLT(now.Add(-n.cfg.Stale))).Select(livenode.FieldNode).Strings(sys)
	if err != nil {
		return err
	}
	if len(dead) > 0 {
		gone, err := n.db.LiveNodeStream.Query().Where(livenodestream.NodeIn(dead...)).All(sys)
		if err != nil {
			return err
		}
		if _, err := n.db.LiveNodeStream.Delete().Where(livenodestream.NodeIn(dead...)).Exec(sys); err != nil {
			return err
		}
		if _, err := n.db.LiveNode.Delete().Where(livenode.NodeIn(dead...), livenode.HeartbeatAtLT(now.Add(-n.cfg.Stale))).Exec(sys); err != nil {
			return err
		}
		for _, g := range gone {
			changed = append(changed, g.Stream)
			n.log.Info("live: a node stopped its heartbeat", "stream", g.Stream, "node", g.Node)
		}
	}
	n.announce(ctx, changed)
	return nil
}

// announce tells every node's overlay subscribers that these streams'
// viewer counts changed.
func (n *Nodes) announce(ctx context.Context, streams []string) {
	if n.Notifier == nil {
		return
	}
	seen := map[string]bool{}
	var topics []string
	for _, s := range streams {
		if id, err := gid.Decode(s); err == nil && !seen[s] {
			seen[s] = true
			topics = append(topics, checkout.StreamTopic(id))
		}
	}
	if len(topics) > 0 {
		n.Notify(context.WithoutCancel(ctx), topics...)
	}
}

// Others lists the other live nodes (fresh heartbeat) with how each
// carries stream.
func (n *Nodes) Others(ctx context.Context, stream string) ([]Node, error) {
	sys := viewer.SystemContext(ctx)
	rows, err := n.db.LiveNode.Query().Where(livenode.NodeNEQ(n.id), livenode.HeartbeatAtGTE(n.now().Add(-n.cfg.Stale))).All(sys)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	roles, err := n.db.LiveNodeStream.Query().Where(livenodestream.Stream(stream)).All(sys)
	if err != nil {
		return nil, err
	}
	role := map[string]string{}
	for _, r := range roles {
		role[r.Node] = string(r.Role)
	}
	out := make([]Node, 0, len(rows))
	for _, r := range rows {
		out = append(out, Node{URL: r.URL, Load: r.Viewers, Capacity: r.Capacity, Role: role[r.Node]})
	}
	return out, nil
}

// PullCredential is what this node presents when it pulls a stream from
// another: its id and its secret.
func (n *Nodes) PullCredential() string { return n.id + "." + n.pullKey }

// VerifyPull reports whether cred is the credential of a live node (fresh
// heartbeat) other than this one.
func (n *Nodes) VerifyPull(ctx context.Context, cred string) (bool, error) {
	id, key, ok := strings.Cut(cred, ".")
	if !ok || id == "" || key == "" || id == n.id || len(cred) > 200 {
		return false, nil
	}
	row, err := n.db.LiveNode.Query().Where(livenode.Node(id), livenode.HeartbeatAtGTE(n.now().Add(-n.cfg.Stale))).
		Only(viewer.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return row.PullKey != "" && subtle.ConstantTimeCompare([]byte(row.PullKey), []byte(key)) == 1, nil
}

// OtherViewers is stream's connected viewers on the other live nodes.
func (n *Nodes) OtherViewers(ctx context.Context, stream string) (int, error) {
	sys := viewer.SystemContext(ctx)
	alive, err := n.db.LiveNode.Query().Where(livenode.NodeNEQ(n.id), livenode.HeartbeatAtGTE(n.now().Add(-n.cfg.Stale))).
		Select(livenode.FieldNode).Strings(sys)
	if err != nil || len(alive) == 0 {
		return 0, err
	}
	rows, err := n.db.LiveNodeStream.Query().Where(livenodestream.Stream(stream), livenodestream.NodeIn(alive...)).All(sys)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, r := range rows {
		total += r.Viewers
	}
	return total, nil
}

// Media is local's view of a stream with the viewer count summed across
// the live nodes.
func (n *Nodes) Media(local Media) Media { return clusterMedia{local, n} }

type clusterMedia struct {
	Media
	nodes *Nodes
}

func (m clusterMedia) Viewers(stream string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	others, err := m.nodes.OtherViewers(ctx, stream)
	if err != nil {
		m.nodes.log.Warn("live: reading other nodes' viewer counts", "error", err)
	}
	return m.Media.Viewers(stream) + others
}
