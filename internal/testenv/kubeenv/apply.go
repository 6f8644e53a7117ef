package kubeenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// ApplyFiles server-side applies every document of the given YAML files.
func (e *Env) ApplyFiles(ctx context.Context, files ...string) ([]*unstructured.Unstructured, error) {
	var all []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("kubeenv: %w", err)
		}
		objs, err := e.Apply(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("kubeenv: %s: %w", f, err)
		}
		all = append(all, objs...)
	}
	return all, nil
}

// Apply server-side applies every document of a (multi-document) YAML or
// JSON manifest as admin and returns the applied objects. Kinds are mapped
// through fresh discovery, so a CRD applied earlier is usable at once.
func (e *Env) Apply(ctx context.Context, manifest []byte) ([]*unstructured.Unstructured, error) {
	docs, err := decodeDocs(manifest)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(e.Config())
	if err != nil {
		return nil, err
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	dyn := e.Dynamic()
	var out []*unstructured.Unstructured
	for _, u := range docs {
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", gvk, u.GetName(), err)
		}
		data, err := u.MarshalJSON()
		if err != nil {
			return nil, err
		}
		ri := dyn.Resource(m.Resource)
		var res *unstructured.Unstructured
		if m.Scope.Name() == "namespace" {
			ns := u.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			res, err = ri.Namespace(ns).Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "kubeenv", Force: ptr.To(true)})
		} else {
			res, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "kubeenv", Force: ptr.To(true)})
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", gvk.Kind, u.GetName(), err)
		}
		out = append(out, res)
	}
	return out, nil
}

func decodeDocs(manifest []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue // an empty document between ---
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "List" {
			items, _, _ := unstructured.NestedSlice(m, "items")
			for _, it := range items {
				if im, ok := it.(map[string]any); ok {
					out = append(out, &unstructured.Unstructured{Object: im})
				}
			}
			continue
		}
		out = append(out, u)
	}
}

// InstallCRDs applies CRD manifests and waits until each CRD is
// Established and its resource is served by discovery, so informers and
// clients can use it immediately.
func (e *Env) InstallCRDs(ctx context.Context, files ...string) error {
	objs, err := e.ApplyFiles(ctx, files...)
	if err != nil {
		return err
	}
	dyn := e.Dynamic()
	dc, err := discovery.NewDiscoveryClientForConfig(e.Config())
	if err != nil {
		return err
	}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
		err := poll(ctx, func() (bool, error) {
			got, err := dyn.Resource(crdGVR).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			established := false
			for _, c := range conds {
				cm, _ := c.(map[string]any)
				if cm["type"] == "Established" && cm["status"] == "True" {
					established = true
				}
			}
			if !established {
				return false, nil
			}
			versions, _, _ := unstructured.NestedSlice(got.Object, "spec", "versions")
			for _, v := range versions {
				vm, _ := v.(map[string]any)
				if served, _ := vm["served"].(bool); !served {
					continue
				}
				name, _ := vm["name"].(string)
				rl, err := dc.ServerResourcesForGroupVersion(group + "/" + name)
				if err != nil {
					return false, nil
				}
				found := false
				for _, r := range rl.APIResources {
					if r.Name == plural {
						found = true
					}
				}
				if !found {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("kubeenv: CRD %s not established: %w", o.GetName(), err)
		}
	}
	return nil
}

// DeleteCRD deletes a CRD by name (e.g. "backups.postgresql.cnpg.io") and
// waits until it is gone.
func (e *Env) DeleteCRD(ctx context.Context, name string) error {
	ri := e.Dynamic().Resource(crdGVR)
	if err := ri.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return poll(ctx, func() (bool, error) {
		_, err := ri.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

func poll(ctx context.Context, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
			}
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ServiceAccountConfig creates the namespace and ServiceAccount when
// missing and returns a config that authenticates as it with a token from
// the TokenRequest API (valid 24 h): exactly how an in-cluster workload is
// seen by RBAC.
func (e *Env) ServiceAccountConfig(ctx context.Context, namespace, name string) (*rest.Config, error) {
	cs := e.Clientset()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	_, err = cs.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	c := rest.CopyConfig(e.admin)
	c.BearerToken = tr.Status.Token
	c.QPS, c.Burst = 0, 0
	return c, nil
}

// WriteKubeconfig writes a kubeconfig file (mode 0600) for cfg, which must
// come from this Env (bearer token + the Env's CA).
func (e *Env) WriteKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubeenv"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["kubeenv"] = &clientcmdapi.Context{Cluster: "kubeenv", AuthInfo: "user"}
	kc.CurrentContext = "kubeenv"
	return clientcmd.WriteToFile(*kc, path)
}
