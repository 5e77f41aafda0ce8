"""Adapters that let other frameworks use a remlite database: `remlite.integrations.langchain` (a LangChain
`VectorStore`) and `remlite.integrations.llama_index` (a LlamaIndex vector store).

Each lives in its own module and imports its framework only when that module is imported, so `import remlite`
never pulls one in; each framework is an optional extra (`pip install 'remlite[langchain]'`,
`pip install 'remlite[llama-index]'`).
"""
