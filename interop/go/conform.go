package main

// The `conform` command answers parse and validate questions with go-spiffe's own parsers, for
// the differential conformance test (suites/tests/conformance.rs). It reads one JSON question a
// line on stdin and writes one JSON answer a line on stdout:
//
//	{"kind": "id", "input": "spiffe://example.org/a"}              spiffeid.FromString
//	{"kind": "td", "input": "spiffe://example.org/a"}              spiffeid.TrustDomainFromString
//	{"kind": "x509_bundle", "td": "example.org", "data": "<b64>"}  x509bundle.Parse (PEM)
//	{"kind": "jwt_bundle", "td": "example.org", "data": "<b64>"}   jwtbundle.Parse (JWKS)
//	{"kind": "spiffe_bundle", "td": "example.org", "data": "<b64>"} spiffebundle.Parse
//	{"kind": "x509_svid", "data": "<b64 chain DER>", "key": "<b64 PKCS#8>"} x509svid.ParseRaw
//	{"kind": "jwt_svid", "input": "<token>", "audience": "a", "data": "<b64 JWKS>", "td": "..."}
//	                                                                jwtsvid.ParseAndValidate
//
// An answer is {"ok": true, "value": "..."} or {"ok": false, "error": "..."}; `value` is the
// parsed result in a canonical text form both sides can produce.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

type question struct {
	Kind     string `json:"kind"`
	Input    string `json:"input"`
	TD       string `json:"td"`
	Data     string `json:"data"`
	Key      string `json:"key"`
	Audience string `json:"audience"`
}

type answer struct {
	OK    bool   `json:"ok"`
	Value string `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
}

func conform() error {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for in.Scan() {
		var q question
		var a answer
		if err := json.Unmarshal(in.Bytes(), &q); err != nil {
			a = answer{Error: "bad question: " + err.Error()}
		} else if v, err := answerOne(q); err != nil {
			a = answer{Error: err.Error()}
		} else {
			a = answer{OK: true, Value: v}
		}
		if err := enc.Encode(a); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
	return in.Err()
}

func answerOne(q question) (string, error) {
	data, err := base64.StdEncoding.DecodeString(q.Data)
	if err != nil {
		return "", fmt.Errorf("bad data: %w", err)
	}
	switch q.Kind {
	case "id":
		id, err := spiffeid.FromString(q.Input)
		if err != nil {
			return "", err
		}
		return id.String(), nil
	case "td":
		td, err := spiffeid.TrustDomainFromString(q.Input)
		if err != nil {
			return "", err
		}
		return td.Name(), nil
	case "x509_bundle":
		td, err := spiffeid.TrustDomainFromString(q.TD)
		if err != nil {
			return "", err
		}
		b, err := x509bundle.Parse(td, data)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("x509=%d", len(b.X509Authorities())), nil
	case "jwt_bundle":
		td, err := spiffeid.TrustDomainFromString(q.TD)
		if err != nil {
			return "", err
		}
		b, err := jwtbundle.Parse(td, data)
		if err != nil {
			return "", err
		}
		return "kids=" + kids(b.JWTAuthorities()), nil
	case "spiffe_bundle":
		td, err := spiffeid.TrustDomainFromString(q.TD)
		if err != nil {
			return "", err
		}
		b, err := spiffebundle.Parse(td, data)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("x509=%d kids=%s", len(b.X509Authorities()), kids(b.JWTAuthorities())), nil
	case "x509_svid":
		key, err := base64.StdEncoding.DecodeString(q.Key)
		if err != nil {
			return "", fmt.Errorf("bad key: %w", err)
		}
		s, err := x509svid.ParseRaw(data, key)
		if err != nil {
			return "", err
		}
		return s.ID.String(), nil
	case "jwt_svid":
		td, err := spiffeid.TrustDomainFromString(q.TD)
		if err != nil {
			return "", err
		}
		b, err := jwtbundle.Parse(td, data)
		if err != nil {
			return "", err
		}
		s, err := jwtsvid.ParseAndValidate(q.Input, b, []string{q.Audience})
		if err != nil {
			return "", err
		}
		return s.ID.String(), nil
	}
	return "", fmt.Errorf("unknown kind %q", q.Kind)
}

func kids[K any](m map[string]K) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}
