package web

import (
	"net/http"
	"strconv"

	"github.com/kmigrate/kmigrate/internal/translate"
)

// apiTranslate answers GET /api/translate?topic=T&partition=P&offset=O with one
// translate.Answer through the running engine's offset map: 200 for exact and
// approximate answers, 404 for not-migrated and unknown-partition, 409 for
// pending and behind-retention, 400 for a bad query. The body is the answer in
// every case.
func (s *Server) apiTranslate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var a translate.Answer
	partition, perr := strconv.ParseInt(q.Get("partition"), 10, 32)
	offset, oerr := strconv.ParseInt(q.Get("offset"), 10, 64)
	if q.Get("topic") == "" || perr != nil || oerr != nil {
		a = translate.Answer{Topic: q.Get("topic"), Status: translate.Invalid,
			Reason: "give topic, partition and offset: /api/translate?topic=orders&partition=0&offset=42"}
	} else {
		a = s.o.Translator.Translate(translate.Query{Topic: q.Get("topic"), Partition: int32(partition), Offset: offset})
	}
	code := http.StatusOK
	switch a.Status {
	case translate.Exact, translate.Approximate:
	case translate.NotMigrated, translate.UnknownPartition:
		code = http.StatusNotFound
	case translate.Invalid:
		code = http.StatusBadRequest
	default:
		code = http.StatusConflict
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	s.writeJSON(w, a)
}
