// A Go crypto/tls origin for the post-quantum tests (tests/peers/go_tls.py builds and runs it).
//
// Go 1.24+ offers and accepts X25519MLKEM768 by default (crypto/tls: CurvePreferences nil). Flags narrow it:
// -groups picks the key exchange groups (in the server's order of preference), -max-version 1.2 makes a TLS
// 1.2-only origin, -client-ca requires a client certificate. It prints "listening PORT" once it accepts, then
// answers every request "HTTP 200 <negotiated group>" until it is killed.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
)

var groupIDs = map[string]tls.CurveID{
	"X25519MLKEM768": tls.X25519MLKEM768,
	"X25519":         tls.X25519,
	"P256":           tls.CurveP256,
	"P384":           tls.CurveP384,
}

func main() {
	cert := flag.String("cert", "", "certificate chain (PEM)")
	key := flag.String("key", "", "private key (PEM)")
	groups := flag.String("groups", "", "comma-separated groups, server preference first (default: Go's)")
	maxVersion := flag.String("max-version", "1.3", "1.2 or 1.3")
	clientCA := flag.String("client-ca", "", "require a client certificate from this CA (PEM)")
	flag.Parse()

	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		log.Fatal(err)
	}
	config := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	if *maxVersion == "1.2" {
		config.MaxVersion = tls.VersionTLS12
	}
	if *groups != "" {
		for _, name := range strings.Split(*groups, ",") {
			id, ok := groupIDs[name]
			if !ok {
				log.Fatalf("unknown group %q", name)
			}
			config.CurvePreferences = append(config.CurvePreferences, id)
		}
	}
	if *clientCA != "" {
		pem, err := os.ReadFile(*clientCA)
		if err != nil {
			log.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		config.ClientCAs = pool
		config.ClientAuth = tls.RequireAndVerifyClientCert
	}
	listener, err := tls.Listen("tcp", "127.0.0.1:0", config)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "group %s\n", r.TLS.CurveID)
	})
	log.Fatal(http.Serve(listener, handler))
}
