package kubeenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the key material one test server needs: a CA, a serving
// certificate for 127.0.0.1 signed by it, and a service-account signing key.
// ECDSA P-256 keys are made with Go's crypto: no openssl, and fast enough to
// make fresh ones for every server.
type pki struct {
	caPEM       []byte
	certFile    string
	keyFile     string
	saPubFile   string
	saKeyFile   string
	tokensFile  string
	adminToken  string
	userTokens  map[string]string
	userGroups  map[string][]string
	expiry      time.Time
	serialLimit *big.Int
}

func newPKI(dir string, users []User) (*pki, error) {
	p := &pki{
		certFile:    filepath.Join(dir, "apiserver.crt"),
		keyFile:     filepath.Join(dir, "apiserver.key"),
		saPubFile:   filepath.Join(dir, "sa.pub"),
		saKeyFile:   filepath.Join(dir, "sa.key"),
		tokensFile:  filepath.Join(dir, "tokens.csv"),
		userTokens:  map[string]string{},
		userGroups:  map[string][]string{},
		expiry:      time.Now().Add(24 * time.Hour),
		serialLimit: new(big.Int).Lsh(big.NewInt(1), 62),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          p.serial(),
		Subject:               pkix.Name{CommonName: "kubeenv-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              p.expiry,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: p.serial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     p.expiry,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	if err := writePEM(p.certFile, "CERTIFICATE", srvDER); err != nil {
		return nil, err
	}
	if err := writeECKey(p.keyFile, srvKey); err != nil {
		return nil, err
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := writeECKey(p.saKeyFile, saKey); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := writePEM(p.saPubFile, "PUBLIC KEY", pub); err != nil {
		return nil, err
	}

	// Static token users: admin is in system:masters (bypasses RBAC); the
	// others have exactly the groups the caller asked for, so RBAC tests
	// see what a least-privilege identity sees.
	p.adminToken = randomToken()
	lines := fmt.Sprintf("%s,admin,admin,\"system:masters\"\n", p.adminToken)
	for i, u := range users {
		if u.Name == "" || u.Name == "admin" {
			return nil, fmt.Errorf("kubeenv: user %d: name %q is empty or reserved", i, u.Name)
		}
		if _, dup := p.userTokens[u.Name]; dup {
			return nil, fmt.Errorf("kubeenv: duplicate user %q", u.Name)
		}
		tok := randomToken()
		p.userTokens[u.Name] = tok
		p.userGroups[u.Name] = u.Groups
		groups := ""
		for j, g := range u.Groups {
			if j > 0 {
				groups += ","
			}
			groups += g
		}
		lines += fmt.Sprintf("%s,%s,uid-%s,\"%s\"\n", tok, u.Name, u.Name, groups)
	}
	if err := os.WriteFile(p.tokensFile, []byte(lines), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pki) serial() *big.Int {
	n, err := rand.Int(rand.Reader, p.serialLimit)
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func writeECKey(path string, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der)
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("kubeenv: no randomness: %v", err)) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
