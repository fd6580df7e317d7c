module slicetune/ollama_render

go 1.19
