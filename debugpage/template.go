package debugpage

// pageHTML is the page's template. Every value from the manager goes
// through html/template's contextual escaping; nothing on the page is a
// script.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hotpatch — generation {{.Generation}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #1b1b1b; background: #ffffff; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 20px 0 6px; }
.meta { color: #555; margin-bottom: 8px; }
table { border-collapse: collapse; width: 100%; }
th { background: #1f3b73; color: #ffffff; text-align: left; padding: 4px 8px; }
td { border-bottom: 1px solid #c9d3e6; padding: 4px 8px; vertical-align: top; background: #f3f6fb; white-space: pre-wrap; }
code { font: 13px ui-monospace, monospace; }
code.v { display: inline-block; min-width: 12ch; overflow-wrap: anywhere; }
.baseline { color: #666; }
.none { color: #666; font-style: italic; }
.err { color: #a00000; }
tr.applied td:first-child, tr.committed td:first-child { border-left: 4px solid #2e7d32; }
tr.on-probation td:first-child { border-left: 4px solid #ef6c00; }
.evidence { display: block; color: #333; }
tr.reverted td:first-child, tr.retired td:first-child { border-left: 4px solid #888888; }
tr.rolled-back td:first-child, tr.rejected td:first-child { border-left: 4px solid #c62828; }
tr.restarted td:first-child, tr.warning td:first-child { border-left: 4px solid #ef6c00; }
tr.other td:first-child { border-left: 4px solid #5e35b1; }
</style>
</head>
<body>
<h1>hotpatch</h1>
<div class="meta">generation <b id="generation">{{.Generation}}</b> · slots: {{len .Slots}} · patches in the stack: {{len .Stack}} · {{ts .Time}} · <a href="?format=json">status.json</a></div>

<h2>Slots</h2>
<table id="slots">
<thead><tr><th>slot</th><th>type</th><th>serving</th><th>kind</th><th>generation</th><th>since</th><th>failures</th><th>probation</th></tr></thead>
<tbody>
{{- range .Slots}}
<tr><td><code>{{show .Name}}</code></td><td><code>{{show .Type}}</code></td>
{{- if .Patch}}<td><code class="v">{{show .Patch}}</code></td>{{else}}<td class="baseline">baseline</td>{{end -}}
<td>{{show .Kind}}</td><td>{{.Generation}}</td><td>{{ts .Since}}</td><td>{{.Failures}}</td>
{{- if .Probation}}<td>{{show .Probation}}</td>{{else}}<td class="none">—</td>{{end}}</tr>
{{- else}}
<tr><td colspan="8" class="none">no slot registered</td></tr>
{{- end}}
</tbody>
</table>

<h2>Patch stack <span class="meta">(bottom first; the top-most patch that provides a slot serves it)</span></h2>
<table id="stack">
<thead><tr><th>#</th><th>patch</th><th>kind</th><th>source</th><th>serving</th><th>shadowed</th><th>generation</th><th>applied</th><th>baseline</th></tr></thead>
<tbody>
{{- range $i, $p := .Stack}}
<tr><td>{{$i}}</td><td><code class="v">{{show $p.ID}}</code></td><td>{{show $p.Kind}}</td><td><code class="v">{{show $p.Source}}</code></td>
<td>{{join $p.Serving}}</td><td>{{join (shadowed $p)}}</td><td>{{$p.Generation}}</td><td>{{ts $p.AppliedAt}}</td>
<td>{{if $p.Baseline}}<code title="{{show $p.Baseline}}">{{short $p.Baseline}}</code>{{end}}</td></tr>
{{- else}}
<tr><td colspan="9" class="none">empty: every slot serves its baseline</td></tr>
{{- end}}
</tbody>
</table>

<h2>Probation <span class="meta">(a patch on probation is rolled back when its failures cross a threshold before its window ends)</span></h2>
<table id="probation">
<thead><tr><th>patch</th><th>kind</th><th>state</th><th>applied</th><th>window ends</th><th>left</th><th>calls</th><th>failures</th><th>rollback at</th></tr></thead>
<tbody>
{{- range .Probation}}
<tr class="{{.State}}"><td><code class="v">{{show .Patch}}</code></td><td>{{show .Kind}}</td><td>{{show .State}}</td><td>{{ts .Start}}</td><td>{{ts .Until}}</td>
<td>{{if eq .State "on-probation"}}{{dur .Left}}{{else}}ended{{end}}</td><td>{{.Calls}}</td><td>{{.Failures}}</td>
<td>{{show .Threshold.Text}}</td></tr>
{{- else}}
<tr><td colspan="9" class="none">no patch on probation (no rollback policy, or no patch applied)</td></tr>
{{- end}}
</tbody>
</table>

<h2>Loaders</h2>
<table id="loaders">
<thead><tr><th>kind</th><th>memory held</th><th>cap</th></tr></thead>
<tbody>
{{- range .Loaders}}
<tr><td>{{show .Kind}}</td>{{if .Memory}}<td>{{mib .Memory.Used}}</td><td>{{mib .Memory.Limit}}</td>
{{- else if .Busy}}<td colspan="2" class="none">busy: did not answer in time (a load in progress)</td>
{{- else}}<td class="none">—</td><td class="none">—</td>{{end}}</tr>
{{- else}}
<tr><td colspan="3" class="none">no loader attached</td></tr>
{{- end}}
</tbody>
</table>

<h2>Recent events <span class="meta">(newest first)</span></h2>
<table id="events">
<thead><tr><th>time</th><th>type</th><th>generation</th><th>patch</th><th>kind</th><th>source</th><th>slots</th><th>what</th></tr></thead>
<tbody>
{{- range .Events}}
<tr class="{{.Class}}"><td>{{ts .Time}}</td><td>{{show .Type}}</td><td>{{.Generation}}</td><td><code class="v">{{show .Patch}}</code></td><td>{{show .Kind}}</td>
<td><code class="v">{{show .Source}}</code></td><td>{{join .Slots}}</td><td>{{if .Took}}took {{.Took}} {{end}}{{show .Note}}{{if .Err}} <span class="err">{{show .Err}}</span>{{end}}
{{- with .Probation}} <span class="evidence">evidence: {{counted .Failures "failure"}} in {{counted .Calls "call"}}, window {{ts .Start}} to {{ts .Until}}, rollback at {{show .Threshold.Text}}</span>{{end}}</td></tr>
{{- else}}
<tr><td colspan="8" class="none">no event yet</td></tr>
{{- end}}
</tbody>
</table>
</body>
</html>
`
