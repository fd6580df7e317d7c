// ollama_render: renders an Ollama Modelfile TEMPLATE for a chat the way Ollama's
// server does for /api/chat (template/template.go in ollama/ollama: Go's
// text/template with missingkey=zero and a "json" function; consecutive messages
// of one role merged with a blank line; all system messages joined into .System
// while staying in .Messages; .Response empty). Written for our tests, in our
// own words.
//
//	ollama_render MODELFILE < messages.json > prompt.txt
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// templateOf pulls the TEMPLATE """...""" block out of a Modelfile.
func templateOf(modelfile string) (string, error) {
	const open = "TEMPLATE \"\"\""
	i := strings.Index(modelfile, open)
	if i < 0 {
		return "", fmt.Errorf("no TEMPLATE \"\"\" block")
	}
	rest := modelfile[i+len(open):]
	j := strings.Index(rest, "\"\"\"")
	if j < 0 {
		return "", fmt.Errorf("TEMPLATE block is not closed")
	}
	return rest[:j], nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ollama_render MODELFILE < messages.json")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	text, err := templateOf(string(raw))
	if err != nil {
		fmt.Fprintln(os.Stderr, os.Args[1]+":", err)
		os.Exit(2)
	}
	funcs := template.FuncMap{"json": func(v any) string { b, _ := json.Marshal(v); return string(b) }}
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(text)
	if err != nil {
		fmt.Fprintln(os.Stderr, "template does not parse:", err)
		os.Exit(1)
	}
	var msgs []message
	if err := json.NewDecoder(os.Stdin).Decode(&msgs); err != nil {
		fmt.Fprintln(os.Stderr, "messages:", err)
		os.Exit(2)
	}
	var systems []string
	var merged []*message
	for i := range msgs {
		m := msgs[i]
		if m.Role == "system" {
			systems = append(systems, m.Content)
		}
		if n := len(merged); n > 0 && merged[n-1].Role == m.Role {
			merged[n-1].Content += "\n\n" + m.Content
		} else {
			merged = append(merged, &m)
		}
	}
	data := map[string]any{"System": strings.Join(systems, "\n\n"), "Messages": merged, "Tools": nil, "Response": ""}
	if err := tmpl.Execute(os.Stdout, data); err != nil {
		fmt.Fprintln(os.Stderr, "template does not execute:", err)
		os.Exit(1)
	}
}
