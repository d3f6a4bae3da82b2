// Command spiffe-interop is a SPIFFE Workload API client built on go-spiffe v2 (the reference
// client, not written here). The interop suite runs it against our agent and against SPIRE's, and
// reads its one-line answers. Every command takes the Workload API address from
// SPIFFE_ENDPOINT_SOCKET (unix:///path).
//
//	spiffe-interop x509                        X509Source: the default SVID and every bundle
//	spiffe-interop watch <n>                   X509Context updates, one line each, n of them
//	spiffe-interop jwt <audience>              JWTSource: a JWT-SVID, validated with the JWT bundles
//	spiffe-interop validate <audience> <token> ValidateJWTSVID through the Workload API
//	spiffe-interop https-get <url> <id>        GET over spiffetls mTLS, the server authorized by ID
//	spiffe-interop https-serve <addr> <id>     serve HTTPS over mTLS, admitting only <id>
//	spiffe-interop conform                     answer parse questions on stdin (conform.go)
//	spiffe-interop template                    render controller templates as SCM does (template.go)
//	spiffe-interop template-schema             print the Go types of the template data as Rust
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Printf("error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: spiffe-interop x509|watch|jwt|validate|https-get|https-serve|conform|template|template-schema ...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout())
	defer cancel()
	switch {
	case args[0] == "x509" && len(args) == 1:
		return fetchX509(ctx)
	case args[0] == "watch" && len(args) == 2:
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		return watch(ctx, n)
	case args[0] == "jwt" && len(args) == 2:
		return fetchJWT(ctx, args[1])
	case args[0] == "validate" && len(args) == 3:
		return validate(ctx, args[1], args[2])
	case args[0] == "https-get" && len(args) == 3:
		return httpsGet(ctx, args[1], args[2])
	case args[0] == "https-serve" && len(args) == 3:
		return httpsServe(args[1], args[2])
	case args[0] == "conform" && len(args) == 1:
		return conform()
	case args[0] == "template" && len(args) == 1:
		return renderTemplates()
	case args[0] == "template-schema" && len(args) == 1:
		return printTemplateSchema()
	}
	return fmt.Errorf("unknown command or arguments: %q", args)
}

// timeout is SPIFFE_INTEROP_TIMEOUT (a Go duration), 30s by default.
func timeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("SPIFFE_INTEROP_TIMEOUT")); err == nil {
		return d
	}
	return 30 * time.Second
}

func fetchX509(ctx context.Context) error {
	source, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		return err
	}
	defer source.Close()
	svid, err := source.GetX509SVID()
	if err != nil {
		return err
	}
	fmt.Printf("svid %s %s %d\n", svid.ID, svid.Certificates[0].SerialNumber.Text(16), len(svid.Certificates))
	bundle, err := source.GetX509BundleForTrustDomain(svid.ID.TrustDomain())
	if err != nil {
		return err
	}
	fmt.Printf("bundle %s %d\n", bundle.TrustDomain(), len(bundle.X509Authorities()))
	// The SVID must chain to the bundle it came with.
	pool := x509.NewCertPool()
	for _, a := range bundle.X509Authorities() {
		pool.AddCert(a)
	}
	inter := x509.NewCertPool()
	for _, c := range svid.Certificates[1:] {
		inter.AddCert(c)
	}
	if _, err := svid.Certificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("the SVID does not chain to its bundle: %w", err)
	}
	fmt.Println("verified")
	return nil
}

func watch(ctx context.Context, n int) error {
	client, err := workloadapi.New(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	updates := make(chan string, 64)
	errs := make(chan error, 1)
	go func() {
		errs <- client.WatchX509Context(ctx, watcher{updates: updates})
	}()
	for i := 0; i < n; i++ {
		select {
		case line := <-updates:
			fmt.Println(line)
		case err := <-errs:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

type watcher struct{ updates chan<- string }

func (w watcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	ids := make([]string, 0, len(c.SVIDs))
	for _, s := range c.SVIDs {
		ids = append(ids, s.ID.String()+"#"+s.Certificates[0].SerialNumber.Text(16))
	}
	sort.Strings(ids)
	roots := 0
	for _, b := range c.Bundles.Bundles() {
		roots += len(b.X509Authorities())
	}
	w.updates <- fmt.Sprintf("update %s roots=%d", strings.Join(ids, ","), roots)
}

func (w watcher) OnX509ContextWatchError(err error) {
	// Transient errors (a PermissionDenied while no entry matches) are reported and the
	// client retries; the caller counts only updates.
	fmt.Fprintf(os.Stderr, "watch error: %v\n", err)
}

func fetchJWT(ctx context.Context, audience string) error {
	source, err := workloadapi.NewJWTSource(ctx)
	if err != nil {
		return err
	}
	defer source.Close()
	svid, err := source.FetchJWTSVID(ctx, jwtsvid.Params{Audience: audience})
	if err != nil {
		return err
	}
	token := svid.Marshal()
	// Validated locally with the JWT bundles the Workload API gave.
	if _, err := jwtsvid.ParseAndValidate(token, source, []string{audience}); err != nil {
		return fmt.Errorf("the JWT-SVID does not validate with the JWT bundles: %w", err)
	}
	fmt.Printf("jwt %s %s\n", svid.ID, token)
	return nil
}

func validate(ctx context.Context, audience, token string) error {
	client, err := workloadapi.New(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	svid, err := client.ValidateJWTSVID(ctx, token, audience)
	if err != nil {
		fmt.Printf("invalid %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return nil
	}
	fmt.Printf("valid %s\n", svid.ID)
	return nil
}

func httpsGet(ctx context.Context, url, id string) error {
	serverID, err := spiffeid.FromString(id)
	if err != nil {
		return err
	}
	source, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		return err
	}
	defer source.Close()
	tlsConfig := tlsconfig.MTLSClientConfig(source, source, tlsconfig.AuthorizeID(serverID))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: timeout()}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return err
	}
	fmt.Printf("status %d %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
	return nil
}

func httpsServe(addr, id string) error {
	clientID, err := spiffeid.FromString(id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout())
	defer cancel()
	source, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		return err
	}
	defer source.Close()
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	server := &http.Server{
		TLSConfig: tlsconfig.MTLSServerConfig(source, source, tlsconfig.AuthorizeID(clientID)),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			peer := "unknown"
			if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && len(r.TLS.PeerCertificates[0].URIs) == 1 {
				peer = r.TLS.PeerCertificates[0].URIs[0].String()
			}
			fmt.Printf("served %s\n", peer)
			fmt.Fprintf(w, "{\"caller\":%q,\"served_by\":\"go-spiffe\"}\n", peer)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Printf("listening %s\n", listener.Addr())
	return server.ServeTLS(listener, "", "")
}
