package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
)

// tlsClient is how simcore reaches a store over TLS (managed Redis and
// ClickHouse Cloud take nothing else): the server's certificate is always
// verified, against the system's roots or the CA file given, for the host
// of the address; a client certificate is sent when the server asks for
// one (Redis's tls-auth-clients). There is deliberately no option to skip
// verification.
type tlsClient struct {
	on             bool
	ca, cert, key  string // PEM files; empty: system roots, no client certificate
	serverName     string // empty: the host of the address
	flag, envStore string // "redis", "SIMCORE_REDIS": for messages
	switchHint     string // how TLS is turned on, when not by --NAME-tls
}

// tlsFlags registers --NAME-tls, --NAME-tls-ca, --NAME-tls-cert,
// --NAME-tls-key and --NAME-tls-server-name (SIMCORE_STORE_TLS...). The
// key file is a path, not a secret; its contents are never printed.
func (c *cmdEnv) tlsFlags(t *tlsClient, name, envStore, what string) {
	c.boolean(&t.on, name+"-tls", envStore+"_TLS", false, "connect to "+what+" over TLS, verifying its certificate")
	c.tlsFileFlags(t, name, envStore, what)
}

// tlsFileFlags registers the flags of tlsFlags but the switch, for a peer
// whose address says whether it takes TLS (an https:// URL); the caller
// sets t.on.
func (c *cmdEnv) tlsFileFlags(t *tlsClient, name, envStore, what string) {
	t.flag, t.envStore = name, envStore
	c.str(&t.ca, name+"-tls-ca", envStore+"_TLS_CA", "", "PEM file of the CA(s) that sign "+what+"'s certificate (default: the system's roots)")
	c.str(&t.cert, name+"-tls-cert", envStore+"_TLS_CERT", "", "PEM client certificate, for "+what+" when it asks for one")
	c.str(&t.key, name+"-tls-key", envStore+"_TLS_KEY", "", "PEM file of the client certificate's private key")
	c.str(&t.serverName, name+"-tls-server-name", envStore+"_TLS_SERVER_NAME", "", "name to verify "+what+"'s certificate against (default: the host of its address)")
}

// howOn says how TLS is turned on for this peer, for messages.
func (t tlsClient) howOn() string {
	if t.switchHint != "" {
		return t.switchHint
	}
	return fmt.Sprintf("add --%s-tls (%s_TLS=true)", t.flag, t.envStore)
}

// config returns nil when TLS is off, else the client configuration for a
// server at addr. Settings that cannot work are usage errors: a CA or
// certificate given with TLS off would otherwise be silently ignored.
func (t tlsClient) config(addr string) (*tls.Config, error) {
	if !t.on {
		for _, f := range []struct{ v, flag string }{{t.ca, "ca"}, {t.cert, "cert"}, {t.key, "key"}, {t.serverName, "server-name"}} {
			if f.v != "" {
				return nil, usagef("--%s-tls-%s is set but TLS is off: %s", t.flag, f.flag, t.howOn())
			}
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.serverName}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, usagef("--%s-addr %q: %v", t.flag, addr, err)
		}
		cfg.ServerName = host
	}
	if t.ca != "" {
		pem, err := os.ReadFile(t.ca)
		if err != nil {
			return nil, usagef("--%s-tls-ca: %v", t.flag, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--%s-tls-ca %s: no PEM certificate in it", t.flag, t.ca)
		}
		cfg.RootCAs = pool
	}
	if (t.cert == "") != (t.key == "") {
		return nil, usagef("--%s-tls-cert and --%s-tls-key go together: give both or neither", t.flag, t.flag)
	}
	if t.cert != "" {
		pair, err := tls.LoadX509KeyPair(t.cert, t.key)
		if err != nil {
			// LoadX509KeyPair's errors name files and PEM blocks, never key
			// material.
			return nil, usagef("--%s-tls-cert/--%s-tls-key: %v", t.flag, t.flag, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
