package translate

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ReadBatch reads queries, one per line, as JSON objects
// ({"topic":"orders","partition":0,"offset":42}) or CSV (orders,0,42; a header
// line "topic,partition,offset" is skipped); blank lines are skipped. Each
// query is answered by Batch, in input order; a line that is neither becomes an
// invalid answer, so that every line has one. The error is set only when the
// input cannot be read.
func ReadBatch(r io.Reader) ([]Line, error) {
	var out []Line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		q, err := parseLine(line)
		if err == errHeader {
			continue
		}
		out = append(out, Line{N: n, Query: q, Err: err})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read batch line %d: %w", n+1, err)
	}
	return out, nil
}

// Line is one input line of a batch.
type Line struct {
	// N is the line number, from 1.
	N int
	// Query is the parsed query, valid when Err is nil.
	Query Query
	// Err says why the line is not a query.
	Err error
}

// Batch answers every line, in order.
func (t *Translator) Batch(lines []Line) []Answer {
	out := make([]Answer, len(lines))
	for i, l := range lines {
		if l.Err != nil {
			out[i] = Answer{Status: Invalid, Reason: fmt.Sprintf("line %d: %v", l.N, l.Err), Line: l.N}
			continue
		}
		out[i] = t.Translate(l.Query)
		out[i].Line = l.N
	}
	return out
}

var errHeader = errors.New("header line")

func parseLine(line []byte) (Query, error) {
	if line[0] == '{' {
		var raw struct {
			Topic     *string      `json:"topic"`
			Partition *json.Number `json:"partition"`
			Offset    *json.Number `json:"offset"`
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return Query{}, fmt.Errorf("not a JSON object of topic, partition and offset: %v", err)
		}
		if raw.Topic == nil || raw.Partition == nil || raw.Offset == nil {
			return Query{}, fmt.Errorf("a JSON query needs topic, partition and offset")
		}
		return query(*raw.Topic, raw.Partition.String(), raw.Offset.String())
	}
	var rec []string
	if bytes.IndexByte(line, '"') < 0 {
		rec = strings.Split(string(line), ",")
	} else {
		var err error
		if rec, err = csv.NewReader(bytes.NewReader(line)).Read(); err != nil {
			return Query{}, fmt.Errorf("not CSV: %v", err)
		}
	}
	if len(rec) != 3 {
		return Query{}, fmt.Errorf("want 3 CSV fields (topic,partition,offset), got %d", len(rec))
	}
	if strings.EqualFold(strings.TrimSpace(rec[0]), "topic") && strings.EqualFold(strings.TrimSpace(rec[1]), "partition") {
		return Query{}, errHeader
	}
	return query(strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1]), strings.TrimSpace(rec[2]))
}

func query(topic, partition, offset string) (Query, error) {
	p, err := strconv.ParseInt(partition, 10, 32)
	if err != nil || p < 0 {
		return Query{}, fmt.Errorf("partition %q is not a number ≥ 0", partition)
	}
	o, err := strconv.ParseInt(offset, 10, 64)
	if err != nil || o < 0 {
		return Query{}, fmt.Errorf("offset %q is not a number ≥ 0", offset)
	}
	if topic == "" {
		return Query{}, fmt.Errorf("empty topic")
	}
	return Query{Topic: topic, Partition: int32(p), Offset: o}, nil
}
