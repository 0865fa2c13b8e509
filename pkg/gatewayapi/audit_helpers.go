package gatewayapi

import "fmt"

// ManagedLabel is set by Istio on the pods (and Deployment) it deploys for a
// Gateway of its class; the value names the controller.
const ManagedLabel = "gateway.istio.io/managed"

// Unmet says why conds do not hold condition t as True for generation:
// missing, written for another generation, or its status with istiod's
// reason and message. It is "" when the condition holds.
func Unmet(conds []Condition, t string, generation int64) string {
	c := FindCondition(conds, t)
	switch {
	case c == nil:
		return "no " + t + " condition: no controller wrote its status"
	case !c.Current(generation):
		return fmt.Sprintf("%s is for generation %d, not the current %d: the controller has not processed the last change yet", t, c.ObservedGeneration, generation)
	case c.Status == "True":
		return ""
	}
	msg := fmt.Sprintf("%s %s", t, c.Status)
	if c.Reason != "" {
		msg += " (" + c.Reason + ")"
	}
	if c.Message != "" {
		msg += ": " + c.Message
	}
	return msg
}

// SecretNamespace is the namespace of the Secret ref names, for a listener
// of a Gateway in gatewayNamespace.
func (ref SecretReference) SecretNamespace(gatewayNamespace string) string {
	if ref.Namespace != "" {
		return ref.Namespace
	}
	return gatewayNamespace
}

// ServiceBackends are the Service backendRefs of r's rules that lead into
// namespace, in rule order.
func (r HTTPRoute) ServiceBackends(namespace string) []BackendRef {
	var out []BackendRef
	for _, rule := range r.Rules {
		for _, b := range rule.BackendRefs {
			if b.IsService() && b.ServiceNamespace(r.Namespace) == namespace {
				out = append(out, b)
			}
		}
	}
	return out
}

// Address is the first of the Gateway's status addresses, "" when the
// controller has assigned none.
func (gw Gateway) Address() string {
	if len(gw.Status.Addresses) == 0 {
		return ""
	}
	return gw.Status.Addresses[0].Value
}

// Listener returns the listener named name, or nil.
func (gw Gateway) Listener(name string) *Listener {
	for i := range gw.Listeners {
		if gw.Listeners[i].Name == name {
			return &gw.Listeners[i]
		}
	}
	return nil
}
