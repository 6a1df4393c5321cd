package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/catalog"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ConditionReady is the condition type every object reports.
const ConditionReady = "Ready"

// Reasons of the Ready condition.
const (
	// ReasonApplied: the object's current generation is in effect.
	ReasonApplied = "Applied"
	// ReasonInvalid: the current generation is invalid; the last good
	// one, if any, stays in effect.
	ReasonInvalid = "Invalid"
	// ReasonApplyFailed: the configuration was valid but could not be
	// put in effect.
	ReasonApplyFailed = "ApplyFailed"
)

// Configuration is what the objects configure: the cluster-wide
// configuration, and one per namespace that has objects of its own (its
// Namespaced kinds replace the cluster's objects of the same kinds there).
type Configuration struct {
	Cluster    *catalog.Objects
	Namespaces map[string]*catalog.Objects
	// ID identifies the whole configuration (a hash of every spec and
	// pull Secret), for verdict caches.
	ID string
}

// Target is what the reconciler puts the configuration in effect in: the
// serving runtime (pkg/engine) implements it.
type Target interface {
	// Apply puts a validated configuration in effect, or returns why it
	// could not, leaving the previous one in effect.
	Apply(ctx context.Context, cfg Configuration) error
	// CheckVerifier asks a Verifier's plugin whether it accepts the
	// Verifier (artifact types, parameters). It returns an error naming
	// the field, or nil. A NamespacedVerifier is checked as a Verifier.
	CheckVerifier(ctx context.Context, v v1alpha1.Verifier) error
}

// Reconciler keeps the configuration in step with the cluster's objects.
type Reconciler struct {
	// Client reads the objects and writes their status. Required.
	Client client.Client
	// Target receives every configuration that changed, and checks each
	// Verifier against its plugin. Required.
	Target Target
	// Elected is closed when this replica may write status (the leader);
	// nil means always.
	Elected <-chan struct{}
	// Log receives a line per configuration applied or refused.
	Log logr.Logger
	// Name of the controller, unique in the process (controller-runtime
	// names its metrics after it). Default "assay-configuration".
	Name string
	// Secrets reads the Stores' pullSecrets and the Secrets and
	// ConfigMaps of the Verifiers' valueFrom references (Get only,
	// uncached, so Assay needs no permission to list or watch them). If
	// nil, Client is used.
	Secrets client.Reader
	// SecretResync is how often the pullSecrets and valueFrom references
	// are read again, to see rotated credentials and trust material; 0
	// means DefaultSecretResync.
	SecretResync time.Duration

	mu        sync.Mutex
	lastGood  map[string]client.Object            // by kind/name: the last valid version
	applied   string                              // id of the configuration in effect
	inEffect  map[string]int64                    // by object key: the generation in effect
	prevScope map[string]map[string]client.Object // by namespace: the objects in effect
}

// DefaultSecretResync is how often pullSecrets are read again.
const DefaultSecretResync = time.Minute

// key is the single work item: every object enqueues it.
var key = reconcile.Request{NamespacedName: types.NamespacedName{Name: "configuration"}}

// SetupWithManager watches the three kinds. The controller runs on every
// replica (it does not need leader election); status writes wait for
// Elected.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil || r.Target == nil {
		return errors.New("controller: Reconciler needs a Client and a Target")
	}
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{key}
	})
	changed := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	needLeader := false
	name := r.Name
	if name == "" {
		name = "assay-configuration"
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(ctrlOptions(&needLeader)).
		Watches(&v1alpha1.Store{}, one, changed).
		Watches(&v1alpha1.Verifier{}, one, changed).
		Watches(&v1alpha1.Policy{}, one, changed).
		Watches(&v1alpha1.NamespacedStore{}, one, changed).
		Watches(&v1alpha1.NamespacedVerifier{}, one, changed).
		Watches(&v1alpha1.NamespacedPolicy{}, one, changed).
		Complete(r)
}

// Reconcile reads every Store, Verifier and Policy, cluster-wide and
// namespaced, builds each scope's configuration from the valid objects
// (and the last good version of the invalid ones), applies the whole when
// it changed, and writes each object's Ready condition.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastGood == nil {
		r.lastGood = map[string]client.Object{}
		r.prevScope = map[string]map[string]client.Object{}
	}
	live, err := r.listAll(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	for k := range r.lastGood { // deleted objects leave at once
		if _, ok := live[k]; !ok {
			delete(r.lastGood, k)
		}
	}
	// Verifiers with valueFrom references are used with the referenced
	// values in place: validated, applied and kept as last good so.
	resolved, problems, referencing := r.resolve(ctx, live)
	scopes := scopesOf(resolved)
	r.check(ctx, resolved, scopes, problems)

	cfg := Configuration{Namespaces: map[string]*catalog.Objects{}}
	inEffect := map[string]int64{}
	chosenScopes := map[string]map[string]client.Object{}
	for ns, members := range scopes {
		chosen, objs := r.choose(members, problems)
		if objs == nil {
			r.Log.Info("configuration of a scope not changed: its valid objects do not hold together on their own", "namespace", ns)
			for k := range members {
				if problems[k] == "" {
					problems[k] = "not in effect: the other objects are invalid and this one does not hold without them"
				}
			}
			chosen = r.prevScope[ns]
			objs = objectsOf(chosen)
		}
		objs.PoliciesNotInEffect = policiesLeftOut(members, chosen, problems)
		configs, err := r.dockerConfigs(ctx, objs.Stores)
		if err != nil { // a Secret went away between the check and now
			return reconcile.Result{}, err
		}
		objs.DockerConfigs = configs
		chosenScopes[ns] = chosen
		for k, o := range chosen {
			inEffect[k] = o.GetGeneration()
		}
		if ns == "" {
			cfg.Cluster = objs
		} else {
			cfg.Namespaces[ns] = objs
		}
	}
	cfg.ID = configID(cfg)
	applyErr := ""
	if cfg.ID != r.applied {
		if err := r.Target.Apply(ctx, cfg); err != nil {
			applyErr = err.Error()
			r.Log.Error(err, "configuration not applied; the previous one stays in effect")
		} else {
			r.applied = cfg.ID
			r.Log.Info("configuration applied", "id", cfg.ID, "namespaces", len(cfg.Namespaces),
				"stores", len(cfg.Cluster.Stores), "verifiers", len(cfg.Cluster.Verifiers), "policies", len(cfg.Cluster.Policies))
		}
	}
	if applyErr == "" {
		for k, o := range resolved {
			if problems[k] == "" {
				r.lastGood[k] = o.DeepCopyObject().(client.Object)
			}
		}
		r.inEffect, r.prevScope = inEffect, chosenScopes
	}
	result := reconcile.Result{}
	for k, o := range live { // invalid ones too: their Secret may appear
		if st := storeSpec(o); (st != nil && len(st.PullSecrets) > 0) || referencing[k] {
			result.RequeueAfter = r.SecretResync
			if result.RequeueAfter <= 0 {
				result.RequeueAfter = DefaultSecretResync
			}
		}
	}
	return result, r.writeStatus(ctx, live, problems, applyErr, r.inEffect)
}

// choose is the configuration of one scope: each valid member as it is
// and each invalid one as its last good version; if those do not hold
// together (a deleted Verifier leaves a Policy rule nobody handles), the
// valid members alone; if neither holds, nil.
func (r *Reconciler) choose(members map[string]client.Object, problems map[string]string) (map[string]client.Object, *catalog.Objects) {
	withLastGood, validOnly := map[string]client.Object{}, map[string]client.Object{}
	for k, o := range members {
		if problems[k] == "" {
			withLastGood[k], validOnly[k] = o, o
		} else if good, ok := r.lastGood[k]; ok {
			withLastGood[k] = good
		}
	}
	for _, candidate := range []map[string]client.Object{withLastGood, validOnly} {
		if o := objectsOf(candidate); o.Validate("cluster") == nil {
			return candidate, o
		}
	}
	return nil, nil
}

// listAll lists the six kinds, keyed by objKey.
func (r *Reconciler) listAll(ctx context.Context) (map[string]client.Object, error) {
	var (
		stores     v1alpha1.StoreList
		verifiers  v1alpha1.VerifierList
		policies   v1alpha1.PolicyList
		nstores    v1alpha1.NamespacedStoreList
		nverifiers v1alpha1.NamespacedVerifierList
		npolicies  v1alpha1.NamespacedPolicyList
	)
	for _, l := range []client.ObjectList{&stores, &verifiers, &policies, &nstores, &nverifiers, &npolicies} {
		if err := r.Client.List(ctx, l); err != nil {
			return nil, fmt.Errorf("list verification objects: %w", err)
		}
	}
	live := map[string]client.Object{}
	add := func(kind string, o client.Object) { live[objKey(kind, o.GetNamespace(), o.GetName())] = o }
	for i := range stores.Items {
		add(v1alpha1.KindStore, &stores.Items[i])
	}
	for i := range verifiers.Items {
		add(v1alpha1.KindVerifier, &verifiers.Items[i])
	}
	for i := range policies.Items {
		add(v1alpha1.KindPolicy, &policies.Items[i])
	}
	for i := range nstores.Items {
		add(v1alpha1.KindNamespacedStore, &nstores.Items[i])
	}
	for i := range nverifiers.Items {
		add(v1alpha1.KindNamespacedVerifier, &nverifiers.Items[i])
	}
	for i := range npolicies.Items {
		add(v1alpha1.KindNamespacedPolicy, &npolicies.Items[i])
	}
	return live, nil
}

// scopesOf groups the objects into scopes: "" holds the cluster-wide
// objects; each namespace with namespaced objects holds them, plus the
// cluster's objects of every kind it has none of.
func scopesOf(live map[string]client.Object) map[string]map[string]client.Object {
	scopes := map[string]map[string]client.Object{"": {}}
	has := map[string]map[string]bool{} // namespace → base kind → has own
	for k, o := range live {
		if o.GetNamespace() == "" {
			scopes[""][k] = o
			continue
		}
		ns := o.GetNamespace()
		if scopes[ns] == nil {
			scopes[ns], has[ns] = map[string]client.Object{}, map[string]bool{}
		}
		scopes[ns][k] = o
		has[ns][baseKind(o)] = true
	}
	for ns, own := range has {
		for k, o := range scopes[""] {
			if !own[baseKind(o)] {
				scopes[ns][k] = o
			}
		}
	}
	return scopes
}

// dockerConfigs reads the pullSecrets of stores, in order.
func (r *Reconciler) dockerConfigs(ctx context.Context, stores []v1alpha1.Store) ([][]byte, error) {
	reader := r.Secrets
	if reader == nil {
		reader = r.Client
	}
	var out [][]byte
	for _, s := range stores {
		for i, ref := range s.Spec.PullSecrets {
			field := fmt.Sprintf("field spec.pullSecrets[%d]", i)
			var sec corev1.Secret
			if err := reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &sec); err != nil {
				if apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("%s: Secret %s/%s does not exist", field, ref.Namespace, ref.Name)
				}
				return nil, fmt.Errorf("%s: read Secret %s/%s: %w", field, ref.Namespace, ref.Name, err)
			}
			data, ok := sec.Data[corev1.DockerConfigJsonKey]
			if sec.Type != corev1.SecretTypeDockerConfigJson || !ok {
				return nil, fmt.Errorf("%s: Secret %s/%s is of type %q without %q; want a %s Secret", field, ref.Namespace, ref.Name, sec.Type, corev1.DockerConfigJsonKey, corev1.SecretTypeDockerConfigJson)
			}
			out = append(out, data)
		}
	}
	return out, nil
}

// check validates every scope's objects together, each Store's pull
// Secrets and each Verifier with its plugin; it adds a message per
// object with a problem to problems.
func (r *Reconciler) check(ctx context.Context, live map[string]client.Object, scopes map[string]map[string]client.Object, problems map[string]string) {
	add := func(k, msg string) {
		if strings.Contains(problems[k], msg) {
			return
		}
		if problems[k] != "" {
			problems[k] += "; "
		}
		problems[k] += msg
	}
	for ns, members := range scopes {
		where := ""
		if ns != "" {
			where = "in namespace " + ns + ": "
		}
		byCatalogName := map[string]string{} // catalog kind/name → member key
		for k, o := range members {
			byCatalogName[baseKind(o)+"/"+o.GetName()] = k
		}
		if err := objectsOf(members).Validate("cluster"); err != nil {
			for _, e := range unjoin(err) {
				var oe *catalog.ObjectError
				if errors.As(e, &oe) && oe.Kind != "" {
					if k, ok := byCatalogName[oe.Kind+"/"+oe.Name]; ok {
						msg := fieldMessage(oe)
						if live[k].GetNamespace() == "" {
							msg = where + msg
						}
						add(k, msg)
						continue
					}
				}
				for k := range members {
					add(k, where+e.Error())
				}
			}
		}
	}
	for k, o := range live {
		if st := storeSpec(o); st != nil {
			s := v1alpha1.Store{ObjectMeta: metav1.ObjectMeta{Name: o.GetName()}, Spec: *st}
			if _, err := r.dockerConfigs(ctx, []v1alpha1.Store{s}); err != nil {
				add(k, err.Error())
			}
		}
	}
	{
		for k, o := range live {
			if problems[k] != "" {
				continue
			}
			v := asVerifier(o)
			if v == nil {
				continue
			}
			if err := r.Target.CheckVerifier(ctx, *v); err != nil {
				add(k, err.Error())
			}
		}
	}
}

// writeStatus sets each object's Ready condition, if this replica leads.
func (r *Reconciler) writeStatus(ctx context.Context, live map[string]client.Object, problems map[string]string, applyErr string, inEffect map[string]int64) error {
	if inEffect == nil {
		inEffect = r.inEffect
	}
	if r.Elected != nil {
		select {
		case <-r.Elected:
		default:
			return nil
		}
	}
	var errs []error
	for k, o := range live {
		cond := metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonApplied,
			Message: "in effect", ObservedGeneration: o.GetGeneration()}
		switch {
		case problems[k] != "":
			cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalid
			cond.Message = problems[k]
			if gen, ok := inEffect[k]; ok {
				cond.Message += fmt.Sprintf("; generation %d stays in effect", gen)
			} else {
				cond.Message += "; the object is not in effect"
			}
		case applyErr != "":
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonApplyFailed, applyErr
		}
		st := status(o)
		if st.ObservedGeneration == o.GetGeneration() && conditionEqual(meta.FindStatusCondition(st.Conditions, ConditionReady), &cond) {
			continue
		}
		st.ObservedGeneration = o.GetGeneration()
		meta.SetStatusCondition(&st.Conditions, cond)
		if err := r.Client.Status().Update(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update status of %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

func conditionEqual(a, b *metav1.Condition) bool {
	return a != nil && a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message && a.ObservedGeneration == b.ObservedGeneration
}

func status(o client.Object) *v1alpha1.ObjectStatus {
	switch v := o.(type) {
	case *v1alpha1.Store:
		return &v.Status
	case *v1alpha1.Verifier:
		return &v.Status
	case *v1alpha1.Policy:
		return &v.Status
	case *v1alpha1.NamespacedStore:
		return &v.Status
	case *v1alpha1.NamespacedVerifier:
		return &v.Status
	case *v1alpha1.NamespacedPolicy:
		return &v.Status
	}
	panic(fmt.Sprintf("controller: unexpected object %T", o))
}

// baseKind is the cluster kind an object configures: Store, Verifier or Policy.
func baseKind(o client.Object) string {
	switch o.(type) {
	case *v1alpha1.Store, *v1alpha1.NamespacedStore:
		return v1alpha1.KindStore
	case *v1alpha1.Verifier, *v1alpha1.NamespacedVerifier:
		return v1alpha1.KindVerifier
	}
	return v1alpha1.KindPolicy
}

func storeSpec(o client.Object) *v1alpha1.StoreSpec {
	switch v := o.(type) {
	case *v1alpha1.Store:
		return &v.Spec
	case *v1alpha1.NamespacedStore:
		return &v.Spec
	}
	return nil
}

// resolve returns live with each Verifier's valueFrom references
// replaced by the values they name, the problems of the references that
// cannot be read (the object is then left as it is, for its last good
// version to stand), and which objects have references (read again
// every SecretResync).
func (r *Reconciler) resolve(ctx context.Context, live map[string]client.Object) (map[string]client.Object, map[string]string, map[string]bool) {
	reader := r.Secrets
	if reader == nil {
		reader = r.Client
	}
	out := make(map[string]client.Object, len(live))
	problems := map[string]string{}
	referencing := map[string]bool{}
	for k, o := range live {
		out[k] = o
		v := asVerifier(o)
		if v == nil {
			continue
		}
		raw, refs, err := catalog.ResolveValueFrom(v.Spec.Parameters.Raw, o.GetNamespace(), func(ref catalog.ValueRef) (string, error) {
			return readValue(ctx, reader, ref)
		})
		referencing[k] = len(refs) > 0
		if err != nil {
			problems[k] = err.Error()
			continue
		}
		if len(refs) == 0 {
			continue
		}
		c := o.DeepCopyObject().(client.Object)
		switch v := c.(type) {
		case *v1alpha1.Verifier:
			v.Spec.Parameters.Raw = raw
		case *v1alpha1.NamespacedVerifier:
			v.Spec.Parameters.Raw = raw
		}
		out[k] = c
	}
	return out, problems, referencing
}

// readValue reads the string a valueFrom reference names.
func readValue(ctx context.Context, reader client.Reader, ref catalog.ValueRef) (string, error) {
	get := func(obj client.Object) error {
		err := reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("%s %s/%s does not exist", ref.Kind, ref.Namespace, ref.Name)
		case err != nil:
			return fmt.Errorf("read %s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, err)
		}
		return nil
	}
	var data map[string][]byte
	if ref.Kind == "Secret" {
		s := &corev1.Secret{}
		if err := get(s); err != nil {
			return "", err
		}
		data = s.Data
	} else {
		cm := &corev1.ConfigMap{}
		if err := get(cm); err != nil {
			return "", err
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, nil
		}
		data = cm.BinaryData
	}
	b, ok := data[ref.Key]
	if !ok {
		return "", fmt.Errorf("%s %s/%s has no key %q", ref.Kind, ref.Namespace, ref.Name, ref.Key)
	}
	return string(b), nil
}

// asVerifier returns a Verifier (or NamespacedVerifier) as a Verifier.
func asVerifier(o client.Object) *v1alpha1.Verifier {
	switch v := o.(type) {
	case *v1alpha1.Verifier:
		return v
	case *v1alpha1.NamespacedVerifier:
		return &v1alpha1.Verifier{ObjectMeta: v.ObjectMeta, Spec: v.Spec}
	}
	return nil
}

func objKey(kind, namespace, name string) string {
	if namespace == "" {
		return kind + "/" + name
	}
	return kind + "/" + namespace + "/" + name
}

// policiesLeftOut describes the Policies of a scope's members that its
// chosen configuration lacks, sorted, with their problems.
func policiesLeftOut(members, chosen map[string]client.Object, problems map[string]string) []string {
	var out []string
	for k, o := range members {
		if _, ok := chosen[k]; ok || baseKind(o) != v1alpha1.KindPolicy || problems[k] == "" {
			continue
		}
		kind := v1alpha1.KindPolicy
		if _, ok := o.(*v1alpha1.NamespacedPolicy); ok {
			kind = v1alpha1.KindNamespacedPolicy
		}
		out = append(out, fmt.Sprintf("%s %q: %s", kind, o.GetName(), problems[k]))
	}
	slices.Sort(out)
	return out
}

// objectsOf lists objs by kind, sorted by name, for catalog.
func objectsOf(objs map[string]client.Object) *catalog.Objects {
	keys := make([]string, 0, len(objs))
	for k := range objs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := &catalog.Objects{}
	for _, k := range keys {
		switch v := objs[k].(type) {
		case *v1alpha1.Store:
			out.Stores = append(out.Stores, *v)
		case *v1alpha1.Verifier:
			out.Verifiers = append(out.Verifiers, *v)
		case *v1alpha1.Policy:
			out.Policies = append(out.Policies, *v)
		case *v1alpha1.NamespacedStore:
			out.Stores = append(out.Stores, v1alpha1.Store{ObjectMeta: v.ObjectMeta, Spec: v.Spec})
		case *v1alpha1.NamespacedVerifier:
			out.Verifiers = append(out.Verifiers, v1alpha1.Verifier{ObjectMeta: v.ObjectMeta, Spec: v.Spec})
		case *v1alpha1.NamespacedPolicy:
			out.Policies = append(out.Policies, v1alpha1.Policy{ObjectMeta: v.ObjectMeta, Spec: v.Spec})
		}
	}
	return out
}

// configID hashes every scope's names, specs and pull Secrets.
func configID(cfg Configuration) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	scope := func(ns string, objs *catalog.Objects) {
		_ = enc.Encode([]any{"Scope", ns})
		for _, s := range objs.Stores {
			_ = enc.Encode([]any{"Store", s.Name, s.Spec})
		}
		for _, v := range objs.Verifiers {
			_ = enc.Encode([]any{"Verifier", v.Name, v.Spec})
		}
		for _, p := range objs.Policies {
			_ = enc.Encode([]any{"Policy", p.Name, p.Spec})
		}
		for _, c := range objs.DockerConfigs { // rotated credentials apply at once
			_ = enc.Encode([]any{"DockerConfig", c})
		}
		for _, p := range objs.PoliciesNotInEffect { // reports name them
			_ = enc.Encode([]any{"PolicyNotInEffect", p})
		}
	}
	scope("", cfg.Cluster)
	names := make([]string, 0, len(cfg.Namespaces))
	for ns := range cfg.Namespaces {
		names = append(names, ns)
	}
	slices.Sort(names)
	for _, ns := range names {
		scope(ns, cfg.Namespaces[ns])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// fieldMessage is an ObjectError without the file and object it names
// (the status is on the object already).
func fieldMessage(oe *catalog.ObjectError) string {
	if oe.Field != "" {
		return "field " + oe.Field + ": " + oe.Err.Error()
	}
	return oe.Err.Error()
}

// unjoin flattens errors.Join trees.
func unjoin(err error) []error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) && !isObjectError(err) {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

func isObjectError(err error) bool {
	_, ok := err.(*catalog.ObjectError)
	return ok
}
