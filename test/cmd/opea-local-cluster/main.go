// Command opea-local-cluster builds and runs the project's local control
// plane outside of tests: `make cluster-up`, `make cluster-down` and
// `make demo` use it.
//
//	opea-local-cluster build                    build the binaries into the cache
//	opea-local-cluster up   [-dir D] [-app A]  start in the background, write D/kubeconfig;
//	                                           with -app chatqna, ready for kubectl opea secure
//	opea-local-cluster down [-dir D]            stop it and remove D
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

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: opea-local-cluster build|up|down [-dir DIR] [-app chatqna]")
		os.Exit(2)
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := flags.String("dir", ".cluster", "folder for the kubeconfig, logs and etcd data")
	app := flags.String("app", "", "with up: stage an application for kubectl opea secure (chatqna), in the namespace of its name")
	bin := flags.String("bin", "bin", "with up -app: the folder of the kubectl-opea that make build made, for PATH")
	_ = flags.Parse(os.Args[2:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch os.Args[1] {
	case "build":
		_, err = controlplane.EnsureBinaries(ctx, os.Stdout)
	case "up":
		err = up(ctx, *dir, *app, *bin)
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

// apps are the applications up can stage, each in the namespace of its name.
var apps = map[string]func(ctx context.Context, cfg *rest.Config, ns string) error{
	"chatqna": fixtures.StageChatQnA,
}

func up(ctx context.Context, dir, app, bin string) error {
	stage, known := apps[app]
	if app != "" && !known {
		return fmt.Errorf("unknown -app %q: use chatqna", app)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(abs, "kubeconfig")
	if cp, err := controlplane.Attach(abs); err == nil {
		if cp.Running() {
			fmt.Printf("The local control plane is already running (%s).\n", cp.Host)
			if stage != nil {
				if err := stageApp(ctx, cp, app, stage); err != nil {
					return err
				}
			}
			printUsage(kubeconfig, app, bin)
			return nil
		}
		// Left over from a machine restart or a crash: start clean.
		if err := os.RemoveAll(abs); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	fmt.Println("Starting the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a node run by kwok, cert-manager's controllers, Istio's ambient profile and istiod)...")
	cp, err := controlplane.Start(ctx, controlplane.Options{Dir: abs, Detached: true, Istio: true, Progress: os.Stdout})
	if err != nil {
		return err
	}
	if err := cp.WriteKubeconfig(kubeconfig, controlplane.AdminUser); err != nil {
		return errors.Join(err, cp.Stop())
	}
	fmt.Printf("The local control plane is running at %s.\n", cp.Host)
	fmt.Printf("istiod serves xDS on %s and its debug endpoints on http://%s/debug (log: %s).\n", cp.Istio.XDS, cp.Istio.Debug, filepath.Join(abs, "istiod.log"))
	if stage != nil {
		if err := stageApp(ctx, cp, app, stage); err != nil {
			return errors.Join(err, cp.Stop())
		}
	}
	printUsage(kubeconfig, app, bin)
	return nil
}

// stageApp creates what a cluster running app holds, unless its namespace
// exists: then an earlier up staged it, and what secure did since stays.
func stageApp(ctx context.Context, cp *controlplane.ControlPlane, app string, stage func(context.Context, *rest.Config, string) error) error {
	kube, err := kubernetes.NewForConfig(cp.AdminConfig())
	if err != nil {
		return err
	}
	_, err = kube.CoreV1().Namespaces().Get(ctx, app, metav1.GetOptions{})
	if err == nil {
		fmt.Printf("Namespace %s exists: %s is staged already.\n", app, app)
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	fmt.Printf("Staging %s in namespace %s: its Services and pods, and an Istio ingress gateway in %s from Istio's gateway chart; "+
		"kwok runs the pods on the node it manages...\n", app, app, fixtures.GatewayNamespace)
	if err := stage(ctx, cp.AdminConfig(), app); err != nil {
		return fmt.Errorf("staging %s: %w", app, err)
	}
	return nil
}

func printUsage(kubeconfig, app, bin string) {
	fmt.Printf(`Use it with:
  export KUBECONFIG=%s
`, kubeconfig)
	if app != "" {
		// The plugin make built, first on PATH, so that kubectl finds it.
		abs, err := filepath.Abs(bin)
		if err != nil {
			abs = bin
		}
		if _, err := os.Stat(filepath.Join(abs, "kubectl-opea")); err != nil {
			fmt.Println("  make build")
		}
		fmt.Printf(`  export PATH=%s:$PATH
Then secure %s:
  kubectl opea secure -n %s --host %s.example.com
  kubectl opea verify -n %s
`, abs, app, app, app, app)
	} else {
		fmt.Print(`  kubectl get crds
  kubectl opea version
`)
	}
	fmt.Println("Stop it with: make cluster-down")
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
