// Package metrics holds what kmigrate exports beyond each domain package's own
// metrics: the /metrics handler, the last verification result as gauges, and a
// DogStatsD pusher for users who do not scrape.
//
// Every metric lives in a registry the caller creates and passes in; nothing here
// registers globally. Domain packages (replicate, groups) own their metrics and
// register them with the same registry.
//
// The DogStatsD pusher sends the gathered families under the names Datadog's
// OpenMetrics check gives them (namespace kmigrate, raw_metric_prefix kmigrate_),
// so that one dashboard serves both ways of collecting. Counters are sent as
// deltas since the previous push, which is exact as long as no push is lost; UDP
// may drop a datagram, and then that interval's increments are missing from the
// Datadog totals (never from /metrics).
package metrics

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the families of g in the Prometheus text format (or
// OpenMetrics, when the scraper asks for it). Gathering errors are logged to log
// and the metrics that could be gathered are still served.
func Handler(g prometheus.Gatherer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:          slogPrinter{log},
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// slogPrinter adapts a slog.Logger to promhttp's Println logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("gather metrics", "err", slogJoin(v))
}

func slogJoin(v []any) any {
	if len(v) == 1 {
		return v[0]
	}
	return v
}
