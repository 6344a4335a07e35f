// render: renders a Helm chart offline, the way `helm template` does, for the chart tests
// (no helm binary exists in the registries this project may use).
//
//	render --chart=charts/gridrpc [-f values.yaml ...] [--set a.b=c ...] [--set-string k=v ...]
//	       [--name=RELEASE] [--namespace=NS] [--is-upgrade] [--api-versions=g/v,...]
//	       [--kube-version=v1.28.0] [--strict] [--out=manifests.yaml] [--json-out=objects.json]
//	       [--values-out=values.json] [--notes-out=NOTES.txt] [--existing=objects.json]
//
// What it mirrors of Helm 3: values.yaml coalesced with -f files then --set overrides (a null
// deletes a key); .Values, .Release (Name, Namespace, Service, Revision, IsInstall, IsUpgrade),
// .Chart (Chart.yaml's fields, capitalized), .Capabilities (KubeVersion, APIVersions.Has),
// .Template (Name, BasePath), .Files (Get); sprig's functions minus env and expandenv, plus
// include, tpl, required, toYaml, fromYaml, fromYamlArray, toJson, fromJson, fromJsonArray and
// lookup (an empty map: there is no cluster, as under `helm template`; or, with --existing, the
// objects of a JSON array that play the cluster's, as after an earlier install); templates whose name
// starts with "_" define but are not emitted, NOTES.txt is rendered apart; "<no value>" becomes
// "" (missingkey=zero), or with --strict a missing key is an error (`helm lint --strict`);
// every emitted document must parse as YAML, and the chart's kubeVersion must admit the
// Kubernetes version. What it leaves out: subcharts, hooks' ordering, .Files.Glob and friends.
//
// Exit status: 0 rendered; 1 a template, a values file or an override is wrong (the message
// names it); 2 bad usage.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// apiVersions answers .Capabilities.APIVersions.Has.
type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// files is .Files: the chart's files outside templates/.
type files map[string][]byte

func (f files) Get(name string) string      { return string(f[name]) }
func (f files) GetBytes(name string) []byte { return f[name] }

// The Kubernetes API versions `helm template` assumes without a cluster (a subset of Helm's
// chartutil.DefaultVersionSet: the ones charts test for).
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1",
	"rbac.authorization.k8s.io/v1", "storage.k8s.io/v1", "coordination.k8s.io/v1",
	"apiextensions.k8s.io/v1", "admissionregistration.k8s.io/v1", "scheduling.k8s.io/v1",
	"discovery.k8s.io/v1",
}

func main() {
	var valueFiles, sets, setStrings, apis listFlag
	chartDir := flag.String("chart", "", "the chart's directory")
	flag.Var(&valueFiles, "f", "a values file (repeatable; later files win)")
	flag.Var(&sets, "set", "key=value overrides, comma-separated (repeatable; typed as Helm does)")
	flag.Var(&setStrings, "set-string", "key=value overrides kept as strings (repeatable)")
	flag.Var(&apis, "api-versions", "extra API versions for .Capabilities (repeatable, comma-separated)")
	name := flag.String("name", "release", "the release name")
	namespace := flag.String("namespace", "default", "the release namespace")
	isUpgrade := flag.Bool("is-upgrade", false, "render as `helm upgrade` would (.Release.IsUpgrade)")
	kubeVersion := flag.String("kube-version", "v1.28.0", "the Kubernetes version for .Capabilities")
	strict := flag.Bool("strict", false, "a missing value key is an error (helm lint --strict)")
	out := flag.String("out", "", "write the manifests here (default: standard output)")
	jsonOut := flag.String("json-out", "", "also write every object as a JSON array of {source, object}")
	valuesOut := flag.String("values-out", "", "also write the coalesced values as JSON")
	notesOut := flag.String("notes-out", "", "also render templates/NOTES.txt here")
	existing := flag.String("existing", "", "objects lookup finds, as a JSON array (--json-out's form or plain objects)")
	flag.Parse()
	if *chartDir == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "render: usage: render --chart=DIR [-f FILE]... [--set K=V]... (see the source)")
		os.Exit(2)
	}
	for _, a := range apis {
		for _, v := range strings.Split(a, ",") {
			if v = strings.TrimSpace(v); v != "" {
				defaultAPIVersions = append(defaultAPIVersions, v)
			}
		}
	}
	r := renderer{
		chartDir: *chartDir, release: *name, namespace: *namespace, isUpgrade: *isUpgrade,
		kubeVersion: *kubeVersion, strict: *strict, apis: defaultAPIVersions,
	}
	// The values are written before rendering: Helm validates them against the chart's schema
	// first, and a test checks that schema on values whose rendering fails too.
	values, err := r.coalesceValues(valueFiles, sets, setStrings)
	if err == nil && *existing != "" {
		err = r.loadExisting(*existing)
	}
	if err == nil && *valuesOut != "" {
		var b []byte
		if b, err = json.MarshalIndent(values, "", "  "); err == nil {
			err = os.WriteFile(*valuesOut, append(b, '\n'), 0o644)
		}
	}
	if err == nil {
		err = r.render(values, *out, *jsonOut, *notesOut)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "render: %v\n", err)
		os.Exit(1)
	}
}

type renderer struct {
	chartDir, release, namespace, kubeVersion string
	isUpgrade, strict                         bool
	apis                                      apiVersions
	existing                                  []map[string]interface{}
}

func (r *renderer) loadExisting(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var items []map[string]interface{}
	if err := json.Unmarshal(b, &items); err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	for _, item := range items {
		if obj, ok := item["object"].(map[string]interface{}); ok {
			item = obj
		}
		r.existing = append(r.existing, item)
	}
	return nil
}

// lookup answers as Helm's does: one object by name, or {"items": [...]} for an empty name, or
// an empty map.
func (r *renderer) lookup(apiVersion, kind, namespace, name string) map[string]interface{} {
	var items []interface{}
	for _, obj := range r.existing {
		meta, _ := obj["metadata"].(map[string]interface{})
		if obj["apiVersion"] != apiVersion || obj["kind"] != kind ||
			(namespace != "" && meta["namespace"] != namespace) {
			continue
		}
		if name == "" {
			items = append(items, obj)
		} else if meta["name"] == name {
			return obj
		}
	}
	if name == "" && len(items) > 0 {
		return map[string]interface{}{"items": items}
	}
	return map[string]interface{}{}
}

// readYAMLMap reads a YAML file that must hold a mapping (an empty file is an empty map).
func readYAMLMap(file string) (map[string]interface{}, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// coalesce merges src over dst as Helm coalesces user values over chart defaults: maps merge
// key by key, anything else replaces, and a null in src deletes the key.
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sIsMap := v.(map[string]interface{})
		dm, dIsMap := dst[k].(map[string]interface{})
		if sIsMap && dIsMap {
			dst[k] = coalesce(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

// coalesceValues does what Helm does: -f files merged in order, --set parsed into the result,
// and all of it coalesced over the chart's values.yaml.
func (r *renderer) coalesceValues(valueFiles, sets, setStrings []string) (map[string]interface{}, error) {
	defaults, err := readYAMLMap(filepath.Join(r.chartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	user := map[string]interface{}{}
	for _, f := range valueFiles {
		values, err := readYAMLMap(f)
		if err != nil {
			return nil, err
		}
		user = mergeKeepingNulls(user, values)
	}
	for i, group := range [][]string{sets, setStrings} {
		for _, s := range group {
			if err := parseSet(s, user, i == 1); err != nil {
				return nil, fmt.Errorf("--set %q: %v", s, err)
			}
		}
	}
	return coalesce(defaults, user), nil
}

// mergeKeepingNulls merges src over dst; a null stays, to delete the chart's default later.
func mergeKeepingNulls(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		sm, sIsMap := v.(map[string]interface{})
		dm, dIsMap := dst[k].(map[string]interface{})
		if sIsMap && dIsMap {
			dst[k] = mergeKeepingNulls(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

// splitUnescaped splits s at sep where sep is not escaped with a backslash and not inside {}.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	var cur strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(c)
			cur.WriteByte(s[i+1])
			i++
			continue
		case c == '{':
			depth++
		case c == '}':
			depth--
		case c == sep && depth == 0:
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	return append(parts, cur.String())
}

func unescape(s string) string {
	return strings.NewReplacer(`\,`, ",", `\.`, ".", `\=`, "=", `\\`, `\`).Replace(s)
}

// typedValue types a --set value as Helm's strvals does.
func typedValue(v string, asString bool) interface{} {
	if asString {
		return v
	}
	switch v {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if v == "0" || (v != "" && v[0] != '0') {
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return i
		}
	}
	return v
}

var indexed = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

// parseSet applies "a.b[1].c=v,d={x,y}" to into.
func parseSet(s string, into map[string]interface{}, asString bool) error {
	for _, assignment := range splitUnescaped(s, ',') {
		kv := splitUnescaped(assignment, '=')
		if len(kv) < 2 || kv[0] == "" {
			return fmt.Errorf("%q is not key=value", assignment)
		}
		raw := strings.Join(kv[1:], "=")
		var value interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			var list []interface{}
			if inner := raw[1 : len(raw)-1]; inner != "" {
				for _, item := range splitUnescaped(inner, ',') {
					list = append(list, typedValue(unescape(item), asString))
				}
			}
			value = list
		} else {
			value = typedValue(unescape(raw), asString)
		}
		keys := splitUnescaped(kv[0], '.')
		node := into
		for i, key := range keys {
			key = unescape(key)
			last := i == len(keys)-1
			if m := indexed.FindStringSubmatch(key); m != nil {
				n, _ := strconv.Atoi(m[2])
				list, _ := node[m[1]].([]interface{})
				for len(list) <= n {
					list = append(list, nil)
				}
				node[m[1]] = list
				if last {
					list[n] = value
					break
				}
				next, ok := list[n].(map[string]interface{})
				if !ok {
					next = map[string]interface{}{}
					list[n] = next
				}
				node = next
				continue
			}
			if last {
				node[key] = value
				break
			}
			next, ok := node[key].(map[string]interface{})
			if !ok {
				next = map[string]interface{}{}
				node[key] = next
			}
			node = next
		}
	}
	return nil
}

// chartMetadata is .Chart: Chart.yaml with Helm's capitalized field names.
func chartMetadata(chartDir string) (map[string]interface{}, error) {
	raw, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	if raw["apiVersion"] != "v2" {
		return nil, fmt.Errorf("Chart.yaml: apiVersion must be v2, not %v", raw["apiVersion"])
	}
	for _, k := range []string{"name", "version"} {
		if s, _ := raw[k].(string); s == "" {
			return nil, fmt.Errorf("Chart.yaml: %s is required", k)
		}
	}
	meta := map[string]interface{}{}
	for k, v := range raw {
		switch k {
		case "apiVersion":
			meta["APIVersion"] = v
		case "appVersion":
			meta["AppVersion"] = v
		case "kubeVersion":
			meta["KubeVersion"] = v
		default:
			meta[strings.ToUpper(k[:1])+k[1:]] = v
		}
	}
	return meta, nil
}

// Helm's own functions over sprig's, the ones that need the template set bound later.
func (r *renderer) funcMap(root **template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	toYaml := func(v interface{}) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	f["toYaml"] = toYaml
	f["mustToYaml"] = func(v interface{}) (string, error) {
		b, err := yaml.Marshal(v)
		return strings.TrimSuffix(string(b), "\n"), err
	}
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromYamlArray"] = func(s string) []interface{} {
		var a []interface{}
		if err := yaml.Unmarshal([]byte(s), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
	f["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromJsonArray"] = func(s string) []interface{} {
		var a []interface{}
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
	f["required"] = func(warn string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(warn)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(warn)
		}
		return v, nil
	}
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return r.lookup(apiVersion, kind, namespace, name), nil
	}
	depth := 0
	f["include"] = func(name string, data interface{}) (string, error) {
		if depth > 1000 {
			return "", fmt.Errorf("include %q: too deeply nested (recursion?)", name)
		}
		depth++
		defer func() { depth-- }()
		var buf bytes.Buffer
		if err := (*root).ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := (*root).Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Option(r.missingKey()).Parse(text)
		if err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	return f
}

func (r *renderer) missingKey() string {
	if r.strict {
		return "missingkey=error"
	}
	return "missingkey=zero"
}

func (r *renderer) render(values map[string]interface{}, out, jsonOut, notesOut string) error {
	meta, err := chartMetadata(r.chartDir)
	if err != nil {
		return err
	}
	chartName := meta["Name"].(string)
	if constraint, _ := meta["KubeVersion"].(string); constraint != "" {
		semverCompare := sprig.TxtFuncMap()["semverCompare"].(func(string, string) (bool, error))
		ok, err := semverCompare(constraint, r.kubeVersion)
		if err != nil {
			return fmt.Errorf("Chart.yaml: kubeVersion %q: %v", constraint, err)
		}
		if !ok {
			return fmt.Errorf("chart requires kubeVersion %s, which %s does not satisfy", constraint, r.kubeVersion)
		}
	}
	major, minor := "", ""
	if m := regexp.MustCompile(`^v?(\d+)\.(\d+)`).FindStringSubmatch(r.kubeVersion); m != nil {
		major, minor = m[1], m[2]
	}
	chartFiles := files{}
	var templateNames []string
	templateText := map[string]string{}
	err = filepath.Walk(r.chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(r.chartDir, p)
		rel = filepath.ToSlash(rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			name := path.Join(chartName, rel)
			templateNames = append(templateNames, name)
			templateText[name] = string(b)
		} else if rel != "values.yaml" && rel != "Chart.yaml" {
			chartFiles[rel] = b
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(templateNames)

	var root *template.Template
	root = template.New("gotpl").Option(r.missingKey()).Funcs(r.funcMap(&root))
	for _, name := range templateNames {
		if _, err := root.New(name).Parse(templateText[name]); err != nil {
			return err
		}
	}
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": r.release, "Namespace": r.namespace, "Service": "Helm", "Revision": 1,
			"IsInstall": !r.isUpgrade, "IsUpgrade": r.isUpgrade,
		},
		"Chart": meta,
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{
				"Version": r.kubeVersion, "GitVersion": r.kubeVersion, "Major": major, "Minor": minor,
			},
			"APIVersions": r.apis,
			"HelmVersion": map[string]interface{}{"Version": "v3.14.0"},
		},
		"Files": chartFiles,
	}
	execute := func(name string) (string, error) {
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": name, "BasePath": path.Join(chartName, "templates")}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}

	var manifests strings.Builder
	type object struct {
		Source string                 `json:"source"`
		Object map[string]interface{} `json:"object"`
	}
	objects := []object{}
	notes := path.Join(chartName, "templates", "NOTES.txt")
	for _, name := range templateNames {
		if strings.HasPrefix(path.Base(name), "_") || name == notes {
			continue
		}
		text, err := execute(name)
		if err != nil {
			return err
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(text, -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			obj := map[string]interface{}{}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				return fmt.Errorf("%s: the rendered YAML does not parse: %v\n%s", name, err, doc)
			}
			if len(obj) == 0 {
				continue // comments only
			}
			objects = append(objects, object{Source: name, Object: obj})
			fmt.Fprintf(&manifests, "---\n# Source: %s\n%s\n", name, strings.Trim(doc, "\n"))
		}
	}
	if out == "" {
		fmt.Print(manifests.String())
	} else if err := os.WriteFile(out, []byte(manifests.String()), 0o644); err != nil {
		return err
	}
	if jsonOut != "" {
		b, err := json.MarshalIndent(objects, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if notesOut != "" {
		if _, ok := templateText[notes]; !ok {
			return fmt.Errorf("%s does not exist", notes)
		}
		text, err := execute(notes)
		if err != nil {
			return err
		}
		if err := os.WriteFile(notesOut, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}
