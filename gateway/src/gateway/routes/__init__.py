"""HTTP routers: thin layers turning service results into JSON, errors or streams."""
