package graph

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
)

// maxOperationNames bounds the operation label: names come from clients,
// so past this many distinct ones the rest are counted as "other".
const maxOperationNames = 200

// Metrics counts GraphQL operations and their latency by operation.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	mu    sync.Mutex
	names map[string]struct{}
}

// NewMetrics registers the API's collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "merchd_graphql_requests_total",
			Help: "GraphQL operations served, by operation name, type and outcome.",
		}, []string{"operation", "type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "merchd_graphql_request_duration_seconds",
			Help:    "Time from receiving a GraphQL operation to its response, by operation name and type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation", "type"}),
		names: map[string]struct{}{},
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *Metrics) label(name string) string {
	if name == "" {
		return "anonymous"
	}
	if len(name) > 64 {
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.names[name]; ok {
		return name
	}
	if len(m.names) >= maxOperationNames {
		return "other"
	}
	m.names[name] = struct{}{}
	return name
}

func (m *Metrics) observe(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if !graphql.HasOperationContext(ctx) {
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	typ := "unknown"
	if oc.Operation != nil {
		typ = string(oc.Operation.Operation)
	}
	if typ == string(ast.Subscription) {
		return resp // per-event responses; counted by the subscription layer
	}
	name := oc.OperationName
	if name == "" && oc.Operation != nil {
		name = oc.Operation.Name // a single named operation sent without operationName
	}
	name = m.label(name)
	outcome := "ok"
	if resp != nil && len(resp.Errors) > 0 {
		outcome = "error"
	}
	m.requests.WithLabelValues(name, typ, outcome).Inc()
	m.latency.WithLabelValues(name, typ).Observe(time.Since(oc.Stats.OperationStart).Seconds())
	return resp
}
