package dashboards

// Panel builders: each returns a panel with the datasource variable, its
// queries and field config; layout places them.

func ds() *Datasource { return &Datasource{Type: "prometheus", UID: "${datasource}"} }

func ptr(f float64) *float64 { return &f }

// target is an instant-and-range PromQL query with a legend.
func target(expr, legend string) Target {
	return Target{Datasource: ds(), Expr: expr, LegendFormat: legend, Range: true}
}

// steps builds absolute thresholds: a base color, then (value, color) pairs.
func steps(base string, rest ...any) *Thresholds {
	t := &Thresholds{Mode: "absolute", Steps: []Step{{Color: base}}}
	for i := 0; i+1 < len(rest); i += 2 {
		v := toFloat(rest[i])
		t.Steps = append(t.Steps, Step{Color: rest[i+1].(string), Value: &v})
	}
	return t
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	panic("steps: thresholds must be numbers")
}

// valueMap maps one exact value to a text and color.
func valueMap(value, text, color string) Mapping {
	return Mapping{Type: "value", Options: map[string]MappingValue{value: {Text: text, Color: color}}}
}

// rangeMap maps a value range to a text and color.
func rangeMap(from, to float64, text, color string) Mapping {
	return Mapping{Type: "range", Options: map[string]any{"from": from, "to": to, "result": MappingValue{Text: text, Color: color}}}
}

func withRefIDs(ts []Target) []Target {
	for i := range ts {
		ts[i].RefID = string(rune('A' + i))
	}
	return ts
}

// stat shows the last value of each series, colored by thresholds.
func stat(title, desc, unit string, th *Thresholds, mappings []Mapping, ts ...Target) Panel {
	if mappings == nil {
		mappings = []Mapping{}
	}
	return Panel{Type: "stat", Title: title, Description: desc, Datasource: ds(), Targets: withRefIDs(ts),
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: unit, Color: Color{Mode: "thresholds"}, Thresholds: th, Mappings: mappings}, Overrides: []any{}},
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"colorMode":     "background", "graphMode": "none", "justifyMode": "auto",
			"orientation": "auto", "textMode": "value_and_name", "wideLayout": true,
		}}
}

// bargauge shows each series as a horizontal bar against min..max.
func bargauge(title, desc, unit string, min, max *float64, th *Thresholds, ts ...Target) Panel {
	return Panel{Type: "bargauge", Title: title, Description: desc, Datasource: ds(), Targets: withRefIDs(ts),
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: unit, Min: min, Max: max, Color: Color{Mode: "thresholds"}, Thresholds: th, Mappings: []Mapping{}}, Overrides: []any{}},
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"displayMode":   "gradient", "orientation": "horizontal", "showUnfilled": true, "valueMode": "color",
		}}
}

// timeseries draws each series over the dashboard's time range.
func timeseries(title, desc, unit string, ts ...Target) Panel {
	return Panel{Type: "timeseries", Title: title, Description: desc, Datasource: ds(), Targets: withRefIDs(ts),
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: unit, Color: Color{Mode: "palette-classic"}, Mappings: []Mapping{},
			Custom: map[string]any{"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": false}}, Overrides: []any{}},
		Options: map[string]any{
			"legend":  map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		}}
}

// withLink links the panel to an alert's runbook.
func (p Panel) withLink(alert string) Panel {
	p.Links = append(p.Links, PanelLink{Title: "Runbook: " + alert, URL: runbooks + alert + ".md", TargetBlank: true})
	return p
}

func (p Panel) withMappings(m ...Mapping) Panel {
	p.FieldConfig.Defaults.Mappings = append(p.FieldConfig.Defaults.Mappings, m...)
	return p
}

func (p Panel) withTextMode(mode string) Panel {
	p.Options.(map[string]any)["textMode"] = mode
	return p
}

// layout places panels left to right on Grafana's 24-column grid, wrapping
// to a new line, and numbers them.
type layout struct {
	x, y, lineH, id int
	rowTop          int
}

func (l *layout) place(w, h int, p Panel) Panel {
	if l.x+w > 24 {
		l.x, l.y, l.lineH = 0, l.y+l.lineH, 0
	}
	l.id++
	p.ID = l.id
	p.GridPos = GridPos{H: h, W: w, X: l.x, Y: l.y}
	l.x += w
	if h > l.lineH {
		l.lineH = h
	}
	return p
}

// startRow begins a new line with room for a row header; the row's panels
// are placed after it (Go evaluates l.startRow() before row's arguments).
func (l *layout) startRow() *layout {
	l.rowTop = l.y + l.lineH
	l.x, l.y, l.lineH = 0, l.rowTop+1, 0
	return l
}

// row returns a collapsed row holding panels, its header on the line
// startRow reserved.
func (l *layout) row(title string, panels ...Panel) Panel {
	l.id++
	collapsed := true
	return Panel{ID: l.id, Type: "row", Title: title, Collapsed: &collapsed, GridPos: GridPos{H: 1, W: 24, X: 0, Y: l.rowTop}, Panels: panels}
}
