package schemas

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kmigrate/kmigrate/internal/config"
)

// Client speaks the Confluent Schema Registry REST API (v7), the endpoints a
// migration needs: subjects and their versions, schemas by id, compatibility
// configuration, mode, and registration with a given id and version.
type Client struct {
	// Name is the registry's role in errors: source or target.
	Name string
	base *url.URL
	hc   *http.Client
	user string
	pass config.Secret
}

// APIError is a registry's answer with an error status.
type APIError struct {
	// Method and URL are the request (the URL holds no credentials).
	Method string
	// URL is the request URL.
	URL string
	// Status is the HTTP status; Code the registry's error_code, when given.
	Status int
	// Code is the registry's error_code, 0 when the body had none.
	Code int
	// Message is the registry's message, or the start of the body.
	Message string
}

// Error names the request and the registry's answer.
func (e *APIError) Error() string {
	msg := e.Message
	if e.Code != 0 {
		msg = fmt.Sprintf("error %d: %s", e.Code, msg)
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.URL, e.Status, msg)
}

// NotFound reports whether err is a 404 answer.
func NotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// NewClient returns a client of the registry r; name (source or target) goes
// into errors. The password is resolved now, so a missing password file fails
// here.
func NewClient(name string, r config.Registry, timeout time.Duration) (*Client, error) {
	if r.URL == "" {
		return nil, fmt.Errorf("%s schema registry: no url configured (a topic is enough for plan and verify, not for sync)", name)
	}
	u, err := url.Parse(strings.TrimSuffix(r.URL, "/"))
	if err != nil {
		return nil, fmt.Errorf("%s schema registry url: %w", name, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if t := r.TLS; t != nil {
		tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // explicit, validated and reported by config check
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("%s schema registry ca_file: %w", name, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s schema registry ca_file %s: no PEM certificate in it", name, t.CAFile)
			}
			tc.RootCAs = pool
		}
		if t.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("%s schema registry client certificate: %w", name, err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tr.TLSClientConfig = tc
	}
	c := &Client{Name: name, base: u, hc: &http.Client{Transport: tr, Timeout: timeout}}
	if a := r.BasicAuth; a != nil {
		p, err := a.ResolvePassword()
		if err != nil {
			return nil, fmt.Errorf("%s schema registry basic_auth: %w", name, err)
		}
		c.user, c.pass = a.Username, p
	}
	return c, nil
}

// URL is the registry's base URL.
func (c *Client) URL() string { return c.base.String() }

const contentType = "application/vnd.schemaregistry.v1+json"

// do sends one request and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	// path is escaped already: subject names went through seg.
	full := c.base.String() + path
	if q := query.Encode(); q != "" {
		full += "?" + q
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", method, full, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, full, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, full, err)
	}
	req.Header.Set("Accept", contentType+", application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass.Reveal())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// The error of net/http names the URL, which holds no credentials.
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, full, err)
	}
	if resp.StatusCode >= 300 {
		ae := &APIError{Method: method, URL: full, Status: resp.StatusCode}
		var eb struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &eb) == nil && (eb.Code != 0 || eb.Message != "") {
			ae.Code, ae.Message = eb.Code, eb.Message
		} else {
			ae.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return ae
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, full, err)
		}
	}
	return nil
}

// seg escapes one path segment (a subject name may hold '/', ':' or spaces).
func seg(s string) string { return url.PathEscape(s) }

func deletedQuery(deleted bool) url.Values {
	q := url.Values{}
	if deleted {
		q.Set("deleted", "true")
	}
	return q
}

// Subjects lists the subjects, soft-deleted ones too when deleted is set.
func (c *Client) Subjects(ctx context.Context, deleted bool) ([]string, error) {
	var out []string
	if err := c.do(ctx, http.MethodGet, "/subjects", deletedQuery(deleted), nil, &out); err != nil {
		return nil, fmt.Errorf("list subjects of %s schema registry: %w", c.Name, err)
	}
	return out, nil
}

// Versions lists the versions of subject, soft-deleted ones too when deleted
// is set. A subject that has none (or only soft-deleted ones, without deleted)
// gives an empty list.
func (c *Client) Versions(ctx context.Context, subject string, deleted bool) ([]int, error) {
	var out []int
	err := c.do(ctx, http.MethodGet, "/subjects/"+seg(subject)+"/versions", deletedQuery(deleted), nil, &out)
	if NotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list versions of subject %s on %s schema registry: %w", subject, c.Name, err)
	}
	return out, nil
}

// subjectVersion is the answer of /subjects/{s}/versions/{v}.
type subjectVersion struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int32       `json:"id"`
	SchemaType string      `json:"schemaType"`
	Schema     string      `json:"schema"`
	References []Reference `json:"references"`
}

// Version returns one version of subject (soft-deleted ones too).
func (c *Client) Version(ctx context.Context, subject string, version int) (*Version, error) {
	var sv subjectVersion
	if err := c.do(ctx, http.MethodGet, "/subjects/"+seg(subject)+"/versions/"+strconv.Itoa(version), deletedQuery(true), nil, &sv); err != nil {
		return nil, fmt.Errorf("get subject %s version %d from %s schema registry: %w", subject, version, c.Name, err)
	}
	return &Version{Subject: subject, Version: version, ID: sv.ID, Schema: Schema{Type: sv.SchemaType, Text: sv.Schema, References: sv.References}}, nil
}

// SchemaByID returns the schema of id, or nil when the registry does not know
// it.
func (c *Client) SchemaByID(ctx context.Context, id int32) (*Schema, error) {
	var s Schema
	err := c.do(ctx, http.MethodGet, "/schemas/ids/"+strconv.Itoa(int(id)), nil, nil, &s)
	if NotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get schema id %d from %s schema registry: %w", id, c.Name, err)
	}
	return &s, nil
}

// Lookup implements Resolver with /schemas/ids/{id} and
// /schemas/ids/{id}/versions.
func (c *Client) Lookup(ctx context.Context, id int32) (*Schema, []SubjectVersion, error) {
	s, err := c.SchemaByID(ctx, id)
	if err != nil || s == nil {
		return nil, nil, err
	}
	var uses []SubjectVersion
	err = c.do(ctx, http.MethodGet, "/schemas/ids/"+strconv.Itoa(int(id))+"/versions", deletedQuery(true), nil, &uses)
	if err != nil && !NotFound(err) {
		return nil, nil, fmt.Errorf("list versions of schema id %d on %s schema registry: %w", id, c.Name, err)
	}
	return s, uses, nil
}

// Compatibility returns the compatibility level of subject, or the global one
// when subject is empty; "" when the subject sets none.
func (c *Client) Compatibility(ctx context.Context, subject string) (string, error) {
	path, q := "/config", url.Values{}
	if subject != "" {
		path += "/" + seg(subject)
		q.Set("defaultToGlobal", "false")
	}
	var out struct {
		Level  string `json:"compatibilityLevel"`
		Level2 string `json:"compatibility"`
	}
	err := c.do(ctx, http.MethodGet, path, q, nil, &out)
	if subject != "" && NotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get compatibility of %s on %s schema registry: %w", subjectText(subject), c.Name, err)
	}
	return firstNonEmpty(out.Level, out.Level2), nil
}

// SetCompatibility sets the compatibility level of subject, or the global one
// when subject is empty.
func (c *Client) SetCompatibility(ctx context.Context, subject, level string) error {
	path := "/config"
	if subject != "" {
		path += "/" + seg(subject)
	}
	if err := c.do(ctx, http.MethodPut, path, nil, map[string]string{"compatibility": level}, nil); err != nil {
		return fmt.Errorf("set compatibility of %s to %s on %s schema registry: %w", subjectText(subject), level, c.Name, err)
	}
	return nil
}

// Mode returns the global mode.
func (c *Client) Mode(ctx context.Context) (string, error) {
	var out struct {
		Mode string `json:"mode"`
	}
	if err := c.do(ctx, http.MethodGet, "/mode", nil, nil, &out); err != nil {
		return "", fmt.Errorf("get mode of %s schema registry: %w", c.Name, err)
	}
	return out.Mode, nil
}

// SetMode sets the global mode; IMPORT on a registry that holds schemas needs
// force, which it sends.
func (c *Client) SetMode(ctx context.Context, mode string) error {
	q := url.Values{"force": {"true"}}
	if err := c.do(ctx, http.MethodPut, "/mode", q, map[string]string{"mode": mode}, nil); err != nil {
		return fmt.Errorf("set mode of %s schema registry to %s: %w", c.Name, mode, err)
	}
	return nil
}

// registerRequest is the body of a registration that keeps id and version.
type registerRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	ID         int32       `json:"id"`
	Version    int         `json:"version"`
}

// Register registers v under its subject with its id and version kept (the
// registry must be in IMPORT mode) and checks that the registry kept the id.
func (c *Client) Register(ctx context.Context, v *Version) error {
	body := registerRequest{Schema: v.Text, SchemaType: v.Type, References: v.References, ID: v.ID, Version: v.Version}
	if strings.EqualFold(body.SchemaType, TypeAvro) {
		body.SchemaType = ""
	}
	var out struct {
		ID int32 `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, "/subjects/"+seg(v.Subject)+"/versions", nil, body, &out); err != nil {
		return fmt.Errorf("register %s on %s schema registry: %w", v, c.Name, err)
	}
	if out.ID != v.ID {
		return fmt.Errorf("register %s on %s schema registry: it was given id %d instead", v, c.Name, out.ID)
	}
	return nil
}

// SoftDelete soft-deletes one version.
func (c *Client) SoftDelete(ctx context.Context, subject string, version int) error {
	if err := c.do(ctx, http.MethodDelete, "/subjects/"+seg(subject)+"/versions/"+strconv.Itoa(version), nil, nil, nil); err != nil {
		return fmt.Errorf("soft-delete subject %s version %d on %s schema registry: %w", subject, version, c.Name, err)
	}
	return nil
}

// Snapshot reads everything the registry holds: every subject and version
// (soft-deleted ones marked), the global and per-subject compatibility levels
// and the global mode.
func (c *Client) Snapshot(ctx context.Context) (*Snapshot, error) {
	s := &Snapshot{SubjectCompatibility: map[string]string{}}
	subjects, err := c.Subjects(ctx, true)
	if err != nil {
		return nil, err
	}
	for _, subj := range subjects {
		all, err := c.Versions(ctx, subj, true)
		if err != nil {
			return nil, err
		}
		live, err := c.Versions(ctx, subj, false)
		if err != nil {
			return nil, err
		}
		isLive := map[int]bool{}
		for _, v := range live {
			isLive[v] = true
		}
		for _, n := range all {
			v, err := c.Version(ctx, subj, n)
			if err != nil {
				return nil, err
			}
			v.Deleted = !isLive[n]
			s.Versions = append(s.Versions, v)
		}
		level, err := c.Compatibility(ctx, subj)
		if err != nil {
			return nil, err
		}
		if level != "" {
			s.SubjectCompatibility[subj] = level
		}
	}
	if s.Compatibility, err = c.Compatibility(ctx, ""); err != nil {
		return nil, err
	}
	if s.Mode, err = c.Mode(ctx); err != nil {
		return nil, err
	}
	s.index()
	return s, nil
}

func subjectText(subject string) string {
	if subject == "" {
		return "the registry (global)"
	}
	return "subject " + subject
}
