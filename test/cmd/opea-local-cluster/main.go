// Command opea-local-cluster builds and runs the project's local control
// plane outside of tests: `make cluster-up`, `make cluster-down` and
// `make demo` use it.
//
//	opea-local-cluster build          build the binaries into the cache
//	opea-local-cluster up   [-dir D]  start in the background, write D/kubeconfig
//	opea-local-cluster down [-dir D]  stop it and remove D
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/opea-project/kubectl-opea/test/controlplane"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: opea-local-cluster build|up|down [-dir DIR]")
		os.Exit(2)
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := flags.String("dir", ".cluster", "folder for the kubeconfig, logs and etcd data")
	_ = flags.Parse(os.Args[2:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch os.Args[1] {
	case "build":
		_, err = controlplane.EnsureBinaries(ctx, os.Stdout)
	case "up":
		err = up(ctx, *dir)
	case "down":
		err = down(*dir)
	default:
		err = fmt.Errorf("unknown command %q: use build, up or down", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func up(ctx context.Context, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(abs, "kubeconfig")
	if cp, err := controlplane.Attach(abs); err == nil {
		if cp.Running() {
			fmt.Printf("The local control plane is already running (%s).\n", cp.Host)
			printUsage(kubeconfig)
			return nil
		}
		// Left over from a machine restart or a crash: start clean.
		if err := os.RemoveAll(abs); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	fmt.Println("Starting the local control plane (etcd, kube-apiserver, kube-controller-manager, Istio's ambient profile and istiod)...")
	cp, err := controlplane.Start(ctx, controlplane.Options{Dir: abs, Detached: true, Istio: true, Progress: os.Stdout})
	if err != nil {
		return err
	}
	if err := cp.WriteKubeconfig(kubeconfig, controlplane.AdminUser); err != nil {
		return errors.Join(err, cp.Stop())
	}
	fmt.Printf("The local control plane is running at %s.\n", cp.Host)
	fmt.Printf("istiod serves xDS on %s and its debug endpoints on http://%s/debug (log: %s).\n", cp.Istio.XDS, cp.Istio.Debug, filepath.Join(abs, "istiod.log"))
	printUsage(kubeconfig)
	return nil
}

func printUsage(kubeconfig string) {
	fmt.Printf(`Use it with:
  export KUBECONFIG=%s
  kubectl get crds
  kubectl opea version
Stop it with: make cluster-down
`, kubeconfig)
}

func down(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	cp, err := controlplane.Attach(abs)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Println("No local control plane is running.")
		return os.RemoveAll(abs)
	}
	if err != nil {
		return err
	}
	if err := cp.Stop(); err != nil {
		return err
	}
	fmt.Printf("Stopped the local control plane and removed %s.\n", dir)
	return os.RemoveAll(abs)
}
