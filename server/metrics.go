package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/storefence/storefence/policy"
)

type metrics struct {
	reports  *prometheus.CounterVec
	latency  prometheus.Histogram
	findings *prometheus.GaugeVec
	clusters prometheus.Gauge
	stale    prometheus.Gauge
	evalTime prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storefence_reports_total", Help: "Reports received, by HTTP status and reason.",
		}, []string{"code", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "storefence_ingest_duration_seconds", Help: "Time to handle one POST /api/v1/reports.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "storefence_open_findings", Help: "Unexempted findings of the latest evaluation, by severity.",
		}, []string{"severity"}),
		clusters: prometheus.NewGauge(prometheus.GaugeOpts{Name: "storefence_clusters", Help: "Clusters of the latest evaluation."}),
		stale:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "storefence_stale_agents", Help: "Agents without a recent report."}),
		evalTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "storefence_evaluation_duration_seconds", Help: "Time of one policy evaluation.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
	}
	for _, c := range []prometheus.Collector{m.reports, m.latency, m.findings, m.clusters, m.stale, m.evalTime} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for s := policy.Low; s <= policy.Critical; s++ {
		m.findings.WithLabelValues(s.String())
	}
	return m, nil
}

func (m *metrics) ingest(code int, reason string, d time.Duration) {
	m.reports.WithLabelValues(strconv.Itoa(code), reason).Inc()
	m.latency.Observe(d.Seconds())
}

func (m *metrics) evaluated(a *policy.Audit, d time.Duration) {
	counts := map[policy.Severity]int{}
	for _, f := range a.Findings {
		if !f.Exempted {
			counts[f.Severity]++
		}
	}
	for s := policy.Low; s <= policy.Critical; s++ {
		m.findings.WithLabelValues(s.String()).Set(float64(counts[s]))
	}
	stale := 0
	for _, w := range a.Warnings {
		if w.Kind == policy.StaleAgent {
			stale++
		}
	}
	m.clusters.Set(float64(len(a.Clusters)))
	m.stale.Set(float64(stale))
	m.evalTime.Observe(d.Seconds())
}

func (s *Server) metricsHandler() http.Handler {
	if s.gather == nil {
		return promhttp.Handler()
	}
	return promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{})
}
