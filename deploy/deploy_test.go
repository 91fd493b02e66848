package deploy

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// promtool returns the promtool that `make services` fetched, or fails.
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SIMCORE_PROMTOOL"); p != "" {
		return p
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found: run `make services` (it fetches promtool into .run/tools and exports SIMCORE_PROMTOOL in .run/env): %v", err)
	}
	return p
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = "prometheus"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAlertRules checks the rules and runs their unit tests: each alert
// fires on its failure, after its `for`, with its labels and summary.
func TestAlertRules(t *testing.T) {
	runPromtool(t, "check", "rules", "rules.yml")
	runPromtool(t, "test", "rules", "rules_test.yml")
}

// TestScrapeConfig checks the example Prometheus configuration, which
// loads rules.yml.
func TestScrapeConfig(t *testing.T) {
	runPromtool(t, "check", "config", "prometheus.yml")
}

// metric is what the code declares of one metric.
type metric struct {
	histogram bool
	labels    []string
}

// declaredMetrics finds every simcore_* metric the module's non-test code
// declares with prometheus.NewXxx(prometheus.XxxOpts{Name: ...}, labels),
// with its label names.
func declaredMetrics(t *testing.T) map[string]metric {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]metric{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !strings.HasPrefix(sel.Sel.Name, "New") {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "prometheus" {
				return true
			}
			name := optsName(call.Args[0])
			if !strings.HasPrefix(name, "simcore_") {
				return true
			}
			m := metric{histogram: strings.HasPrefix(sel.Sel.Name, "NewHistogram")}
			if strings.HasSuffix(sel.Sel.Name, "Vec") && len(call.Args) > 1 {
				m.labels = stringList(call.Args[1])
			}
			found[name] = m
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 40 {
		t.Fatalf("found only %d simcore metrics in the code: the parser no longer sees how they are declared", len(found))
	}
	return found
}

// optsName returns the Name of a prometheus.XxxOpts{...} literal, or "".
func optsName(e ast.Expr) string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return ""
	}
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
			if s, ok := kv.Value.(*ast.BasicLit); ok && s.Kind == token.STRING {
				v, _ := strconv.Unquote(s.Value)
				return v
			}
		}
	}
	return ""
}

// stringList returns the strings of a []string{...} literal.
func stringList(e ast.Expr) []string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, el := range lit.Elts {
		if s, ok := el.(*ast.BasicLit); ok && s.Kind == token.STRING {
			v, _ := strconv.Unquote(s.Value)
			out = append(out, v)
		}
	}
	return out
}

// Labels every scraped series may carry besides the metric's own: the
// target's (prometheus.yml) and the histogram bucket bound.
var targetLabels = []string{"job", "instance", "component"}

var (
	selectorRE = regexp.MustCompile(`\b(simcore_[a-z0-9_]+)\s*(\{[^}]*\})?`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"`)
	groupingRE = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// checkExpr reports, for one PromQL expression, any simcore metric the
// code does not declare and any label the metrics named in it do not have.
func checkExpr(t *testing.T, where, expr string, declared map[string]metric) {
	t.Helper()
	var named []metric
	for _, m := range selectorRE.FindAllStringSubmatch(expr, -1) {
		name, matchers := m[1], m[2]
		base, histogramPart := name, false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok {
				if d, ok := declared[b]; ok && d.histogram {
					base, histogramPart = b, true
				}
			}
		}
		d, ok := declared[base]
		if !ok {
			t.Errorf("%s: %s is not a metric simcore declares\n  in: %s", where, name, expr)
			continue
		}
		named = append(named, d)
		allowed := slices.Concat(d.labels, targetLabels)
		if histogramPart {
			allowed = append(allowed, "le")
		}
		for _, lm := range matcherRE.FindAllStringSubmatch(matchers, -1) {
			if !slices.Contains(allowed, lm[1]) {
				t.Errorf("%s: %s has no label %q (it has %v)\n  in: %s", where, name, lm[1], d.labels, expr)
			}
		}
	}
	if len(named) == 0 {
		return
	}
	allowed := slices.Clone(targetLabels)
	allowed = append(allowed, "le")
	for _, d := range named {
		allowed = append(allowed, d.labels...)
	}
	for _, g := range groupingRE.FindAllStringSubmatch(expr, -1) {
		for l := range strings.SplitSeq(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !slices.Contains(allowed, l) {
				t.Errorf("%s: groups by %q, which none of its simcore metrics has\n  in: %s", where, l, expr)
			}
		}
	}
}

// rule is what the tests read of an alerting rule.
type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	Annotations map[string]string `yaml:"annotations"`
}

// loadRules returns every rule of prometheus/rules.yml, or fails.
func loadRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile("prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatal("rules.yml has no rules")
	}
	return rules
}

// TestRulesNameRealMetrics fails when an alert names a metric or label
// the code does not declare, so renaming a metric cannot silently turn
// an alert off. promtool cannot tell: an alert on a missing series is
// simply never firing.
func TestRulesNameRealMetrics(t *testing.T) {
	declared := declaredMetrics(t)
	for _, r := range loadRules(t) {
		checkExpr(t, "rules.yml "+r.Alert, r.Expr, declared)
	}
}

// TestDashboardNamesRealMetrics does the same for every query of the
// Grafana dashboard, panels in rows included.
func TestDashboardNamesRealMetrics(t *testing.T) {
	declared := declaredMetrics(t)
	b, err := os.ReadFile("grafana/simcore.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/simcore.json: %v", err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				exprs = append(exprs, e)
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(v[k])
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(dash)
	if len(exprs) < 20 {
		t.Fatalf("the dashboard has only %d queries", len(exprs))
	}
	used := map[string]bool{}
	for _, e := range exprs {
		checkExpr(t, "grafana/simcore.json", e, declared)
		for _, m := range selectorRE.FindAllStringSubmatch(e, -1) {
			used[m[1]] = true
		}
	}
	if len(used) < 20 {
		t.Errorf("the dashboard charts only %d simcore metrics", len(used))
	}
}

// TestEveryAlertHasARunbook: each alert's runbook annotation names a
// section of docs/operations.md, and each alert section there is an alert.
func TestEveryAlertHasARunbook(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for line := range strings.Lines(string(doc)) {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "### "); ok {
			sections[name] = true
		}
	}
	alerts := map[string]bool{}
	for _, r := range loadRules(t) {
		alerts[r.Alert] = true
		want := "docs/operations.md#" + strings.ToLower(r.Alert)
		if got := r.Annotations["runbook"]; got != want {
			t.Errorf("%s: runbook %q, want %q", r.Alert, got, want)
		}
		if !sections[r.Alert] {
			t.Errorf("%s: no section \"### %s\" in docs/operations.md", r.Alert, r.Alert)
		}
	}
	for name := range sections {
		if strings.HasPrefix(name, "Simcore") && !alerts[name] {
			t.Errorf("docs/operations.md explains %s, which rules.yml does not have", name)
		}
	}
}
