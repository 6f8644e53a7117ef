// Package kubefake builds kube.Clients from client-go's fake clients, for
// unit tests of code that reads a kube.Source: typed objects go to the fake
// clientset, unstructured ones (CRDs) to the fake dynamic client, and
// discovery serves exactly the CRD resources the test says are installed.
// Integration tests use a real API server instead (internal/testenv/kubeenv).
package kubefake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	discoveryfake "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/railiance/forge-exporter/internal/kube"
)

// Env is a set of fake clients.
type Env struct {
	Typed     *fake.Clientset
	Dynamic   *dynamicfake.FakeDynamicClient
	Discovery *Discovery
}

var listKinds = map[schema.GroupVersionResource]string{
	kube.Backups.GVR():          "BackupList",
	kube.ScheduledBackups.GVR(): "ScheduledBackupList",
	kube.Clusters.GVR():         "ClusterList",
	kube.ObjectStores.GVR():     "ObjectStoreList",
	kube.VolumeSnapshots.GVR():  "VolumeSnapshotList",
}

// New returns fake clients holding objs: *unstructured.Unstructured objects
// go to the dynamic client, everything else to the typed clientset. No CRD
// is served until Serve.
func New(objs ...runtime.Object) *Env {
	var typed, dyn []runtime.Object
	for _, o := range objs {
		if _, ok := o.(*unstructured.Unstructured); ok {
			dyn = append(dyn, o)
		} else {
			typed = append(typed, o)
		}
	}
	cs := fake.NewClientset(typed...)
	return &Env{
		Typed:     cs,
		Dynamic:   dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, dyn...),
		Discovery: &Discovery{FakeDiscovery: cs.Discovery().(*discoveryfake.FakeDiscovery), served: map[string]*metav1.APIResourceList{}},
	}
}

// Clients returns the clients for kube.NewSource.
func (e *Env) Clients() kube.Clients {
	return kube.Clients{Typed: e.Typed, Dynamic: e.Dynamic, Discovery: e.Discovery}
}

// Discovery serves a mutable set of group versions, safe to change while a
// source's discovery loop reads it.
type Discovery struct {
	*discoveryfake.FakeDiscovery
	mu     sync.Mutex
	served map[string]*metav1.APIResourceList
}

// ServerResourcesForGroupVersion answers like the API server: the list, or
// NotFound for a group version that is not installed.
func (d *Discovery) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	d.mu.Lock()
	rl := d.served[gv]
	d.mu.Unlock()
	if rl != nil {
		return rl, nil
	}
	return d.FakeDiscovery.ServerResourcesForGroupVersion(gv)
}

// Serve makes resources discoverable (their CRD is "installed").
func (d *Discovery) Serve(rs ...kube.Resource) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range rs {
		gv := schema.GroupVersion{Group: r.Group, Version: r.Version}.String()
		old := d.served[gv]
		rl := &metav1.APIResourceList{GroupVersion: gv}
		if old != nil {
			rl.APIResources = append(rl.APIResources, old.APIResources...)
		}
		rl.APIResources = append(rl.APIResources, metav1.APIResource{Name: r.Resource, Namespaced: r.Namespaced})
		d.served[gv] = rl
	}
}

// Unserve removes a group version (its CRDs are "uninstalled").
func (d *Discovery) Unserve(gv string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.served, gv)
}

// LoadObjects reads a multi-document YAML file: built-in kinds decode to
// their typed structs (as a real clientset would return them), others stay
// unstructured.
func LoadObjects(path string) ([]runtime.Object, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []runtime.Object
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if scheme.Scheme.Recognizes(u.GroupVersionKind()) {
			typed, err := scheme.Scheme.New(u.GroupVersionKind())
			if err != nil {
				return nil, err
			}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, typed); err != nil {
				return nil, fmt.Errorf("%s: %s %s: %w", path, u.GetKind(), u.GetName(), err)
			}
			out = append(out, typed)
			continue
		}
		out = append(out, u)
	}
}
