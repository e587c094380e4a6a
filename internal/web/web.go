// Package web serves kmigrate's read-only HTTP interface: a live dashboard, the
// JSON status API behind it, /metrics, and the /-/healthy and /-/ready probes.
//
// The package reads a running migration through the Source interface and never
// drives it: every endpoint answers GET and HEAD only. The dashboard's assets
// are embedded in the binary, so it works offline; the page polls /api/status
// every second.
//
// Figures are exact where the engine's are (records copied, offset-map runs)
// and approximate where they depend on time: rates are averaged over the last
// ten seconds of one-second samples, the ETA assumes the rates hold, and lags
// and baseline progress count offsets, an upper bound of records where the
// source has gaps.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmigrate/kmigrate/internal/metrics"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/status"
	"github.com/kmigrate/kmigrate/internal/translate"
)

//go:embed assets
var assets embed.FS

// Defaults of Options.
const (
	DefaultSampleInterval = time.Second
	DefaultRateWindow     = 10 * time.Second
	// historyPoints bounds the charts' history: 15 minutes of 1s samples.
	historyPoints = 900
)

// Options configure a Server.
type Options struct {
	// Source is what the server shows. Required.
	Source Source
	// Gatherer serves /metrics; nil serves no metrics (404).
	Gatherer prometheus.Gatherer
	// ReadyMaxLag is the total lag in records under which /-/ready answers 200
	// (http.ready_max_lag).
	ReadyMaxLag int64
	// Log receives request errors; nil discards them.
	Log *slog.Logger
	// SampleInterval is how often rates are sampled; default 1s.
	SampleInterval time.Duration
	// RateWindow is the span rates are averaged over; default 10s.
	RateWindow time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Translator answers /api/translate; nil serves no translation (404).
	Translator *translate.Translator
}

// Server serves the dashboard and the API.
type Server struct {
	o       Options
	handler http.Handler

	hist *status.History
}

// New returns a server; Handler serves requests, Serve also samples rates.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.SampleInterval <= 0 {
		o.SampleInterval = DefaultSampleInterval
	}
	if o.RateWindow <= 0 {
		o.RateWindow = DefaultRateWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o, hist: status.NewHistory(o.RateWindow, historyPoints)}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", s.page)
	mux.Handle("/assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	mux.HandleFunc("/api/status", s.apiStatus)
	mux.HandleFunc("/api/partitions", s.apiPartitions)
	mux.HandleFunc("/api/groups", s.apiGroups)
	mux.HandleFunc("/api/verify", s.apiVerify)
	mux.HandleFunc("/api/events", s.apiEvents)
	if o.Translator != nil {
		mux.HandleFunc("/api/translate", s.apiTranslate)
	}
	mux.HandleFunc("/-/healthy", s.healthy)
	mux.HandleFunc("/-/ready", s.ready)
	if o.Gatherer != nil {
		mux.Handle("/metrics", metrics.Handler(o.Gatherer, o.Log))
	}
	s.handler = readOnly(mux)
	return s
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves requests on ln and samples rates until ctx is done, then shuts
// down, giving requests in progress a few seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.o.Log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.sampleLoop(ctx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	<-done
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	}
	return nil
}

// sampleLoop samples the totals every SampleInterval until ctx is done.
func (s *Server) sampleLoop(ctx context.Context) {
	t := time.NewTicker(s.o.SampleInterval)
	defer t.Stop()
	for {
		s.Sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample reads the source's partitions once for the rates and the charts;
// Serve calls it every SampleInterval.
func (s *Server) Sample() {
	snap := s.o.Source.Snapshot()
	now := s.o.Now()
	r := s.hist.Add(now, snap.observations())
	s.hist.Record(buildStatus(snap, now, r, nil, s.o.ReadyMaxLag).report())
}

// Status returns what GET /api/status returns.
func (s *Server) Status() *Status {
	return buildStatus(s.o.Source.Snapshot(), s.o.Now(), s.hist.Rates(), s.hist.Points(), s.o.ReadyMaxLag)
}

// readOnly refuses every method but GET and HEAD, and sets the headers every
// response shares.
func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "read-only: only GET and HEAD are allowed", http.StatusMethodNotAllowed)
			return
		}
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.o.Log.Debug("write json response", "err", err)
	}
}

func (s *Server) apiStatus(w http.ResponseWriter, _ *http.Request) { s.writeJSON(w, s.Status()) }

func (s *Server) apiPartitions(w http.ResponseWriter, _ *http.Request) {
	parts := s.o.Source.Snapshot().Partitions
	if parts == nil {
		parts = []replicate.PartitionStatus{}
	}
	s.writeJSON(w, parts)
}

func (s *Server) apiGroups(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, s.o.Source.Snapshot().Groups)
}

func (s *Server) apiVerify(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, s.o.Source.Snapshot().Verify)
}

func (s *Server) apiEvents(w http.ResponseWriter, _ *http.Request) {
	ev := s.o.Source.Snapshot().Events
	out := make([]replicate.Event, 0, len(ev))
	for i := len(ev) - 1; i >= 0; i-- {
		out = append(out, ev[i])
	}
	s.writeJSON(w, out)
}

func (s *Server) healthy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "kmigrate is healthy.")
}

// ready answers 200 once the engine has started every partition, none has
// stopped and the total lag is within ReadyMaxLag; 503 with the reason
// otherwise.
func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	st := s.Status()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !st.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "kmigrate is not ready: %s.\n", st.ReadyReason)
		return
	}
	fmt.Fprintf(w, "kmigrate is ready: lag %d records.\n", st.Overview.LagRecords)
}
