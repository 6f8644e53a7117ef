// Command kubeenv keeps a real etcd + kube-apiserver running on loopback
// (internal/testenv/kubeenv) until SIGINT or SIGTERM, for demos and manual
// checks. It writes an admin kubeconfig and, for each -user, one more.
//
//	go run ./hack/kubeenv -kubeconfig /tmp/kube/admin.kubeconfig [-dir D] [-crds DIR|none] [-user name:group1,group2]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/railiance/forge-exporter/internal/testenv/kubeenv"
)

type users []kubeenv.User

func (u *users) String() string { return fmt.Sprint(*u) }
func (u *users) Set(s string) error {
	name, groups, _ := strings.Cut(s, ":")
	var gs []string
	if groups != "" {
		gs = strings.Split(groups, ",")
	}
	*u = append(*u, kubeenv.User{Name: name, Groups: gs})
	return nil
}

func main() {
	kubeconfig := flag.String("kubeconfig", "admin.kubeconfig", "where to write the admin kubeconfig")
	dir := flag.String("dir", "", "working directory (default: a temporary one, removed on exit)")
	crds := flag.String("crds", "", "directory of CRD manifests to install (default: kubeenv.CRDDir()); none for no CRDs")
	var us users
	flag.Var(&us, "user", "extra static token user name:group1,group2 (repeatable); kubeconfig written beside -kubeconfig as NAME.kubeconfig")
	flag.Parse()
	if err := run(*kubeconfig, *dir, *crds, us); err != nil {
		fmt.Fprintln(os.Stderr, "kubeenv:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, dir, crds string, us users) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := kubeenv.Options{Dir: dir, Users: us}
	switch crds {
	case "":
	case "none":
		opts.CRDs = kubeenv.NoCRDs
	default:
		files, err := filepath.Glob(filepath.Join(crds, "*.yaml"))
		if err != nil {
			return err
		}
		opts.CRDs = files
	}
	env, err := kubeenv.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer env.Stop()
	if err := env.WriteKubeconfig(kubeconfig, env.Config()); err != nil {
		return err
	}
	fmt.Printf("kube-apiserver ready at %s\nadmin kubeconfig: %s\n", env.URL(), kubeconfig)
	for _, u := range us {
		cfg, err := env.UserConfig(u.Name)
		if err != nil {
			return err
		}
		p := filepath.Join(filepath.Dir(kubeconfig), u.Name+".kubeconfig")
		if err := env.WriteKubeconfig(p, cfg); err != nil {
			return err
		}
		fmt.Printf("user %s kubeconfig: %s\n", u.Name, p)
	}
	fmt.Println("running until SIGINT/SIGTERM")
	<-ctx.Done()
	return env.Stop()
}
