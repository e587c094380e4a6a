package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/translate"
)

// oneMap is a translate.Map with one partition copied from source offset 100
// (target offset 0) up to 200.
type oneMap struct{ p *offsetmap.Partition }

func (m oneMap) Translate(topic string, partition int32, c int64) (offsetmap.Translation, bool) {
	if topic != "orders" || partition != 0 {
		return offsetmap.Translation{}, false
	}
	return m.p.Translate(c), true
}

func (m oneMap) TargetTopic(source string) (string, bool) { return "gcp." + source, source == "orders" }

// TestAPITranslate checks GET /api/translate: the answer in the body, and a
// status code a script can act on.
func TestAPITranslate(t *testing.T) {
	p, err := offsetmap.New(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendRun(100, 100); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	srv := New(Options{Source: &fakeSource{snap: demoSnapshot()}, Translator: translate.New(cfg, oneMap{p}, nil)})
	for _, c := range []struct {
		query  string
		code   int
		status string
		target int64
	}{
		{"topic=orders&partition=0&offset=150", http.StatusOK, translate.Exact, 50},
		{"topic=orders&partition=0&offset=250", http.StatusConflict, translate.Pending, -1},
		{"topic=orders&partition=0&offset=10", http.StatusConflict, translate.BehindRetention, 0},
		{"topic=orders&partition=3&offset=1", http.StatusNotFound, translate.UnknownPartition, -1},
		{"topic=orders&partition=x&offset=1", http.StatusBadRequest, translate.Invalid, -1},
	} {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/translate?"+c.query, nil))
		var a translate.Answer
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
			t.Fatalf("%s: %v\n%s", c.query, err, rec.Body.String())
		}
		to := int64(-1)
		if a.TargetOffset != nil {
			to = *a.TargetOffset
		}
		if rec.Code != c.code || a.Status != c.status || to != c.target {
			t.Errorf("%s: %d %s %d (%s), want %d %s %d", c.query, rec.Code, a.Status, to, a.Reason, c.code, c.status, c.target)
		}
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/translate?topic=orders&partition=0&offset=1", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
}
