package kube

import (
	"errors"
	"fmt"

	"github.com/prometheus/common/version"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"
)

// ClientOptions are the connection settings of the API clients (the
// source's own options type: collectors convert the configuration once).
type ClientOptions struct {
	// Kubeconfig is an explicit kubeconfig path; empty: $KUBECONFIG,
	// ~/.kube/config, then the in-cluster ServiceAccount.
	Kubeconfig string
	// QPS and Burst bound the exporter's API requests as a whole.
	QPS   float64
	Burst int
}

// RestConfig builds the API client configuration: the kubeconfig file when
// set, else $KUBECONFIG or ~/.kube/config, else the in-cluster
// ServiceAccount.
func RestConfig(k ClientOptions) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.Kubeconfig != "" {
		rules.ExplicitPath = k.Kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) || errors.Is(err, rest.ErrNotInCluster) {
			return nil, errors.New("kubernetes: no kubeconfig (kubernetes.kubeconfig, $KUBECONFIG, ~/.kube/config) and not running in a cluster")
		}
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	cfg.QPS = float32(k.QPS)
	cfg.Burst = k.Burst
	cfg.UserAgent = "forge-exporter/" + version.Version
	return cfg, nil
}

// NewClients returns the typed (protobuf), dynamic and discovery clients
// for cfg. They share one rate limiter, so QPS and burst bound the
// exporter as a whole.
func NewClients(cfg *rest.Config) (Clients, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.RateLimiter == nil && cfg.QPS > 0 {
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	typed := rest.CopyConfig(cfg)
	// Built-in kinds speak protobuf: smaller and cheaper to decode than
	// JSON. CRDs have no protobuf form; the dynamic client uses JSON.
	typed.ContentType = runtime.ContentTypeProtobuf
	typed.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cs, err := kubernetes.NewForConfig(typed)
	if err != nil {
		return Clients{}, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("kubernetes discovery client: %w", err)
	}
	return Clients{Typed: cs, Dynamic: dyn, Discovery: disco}, nil
}
