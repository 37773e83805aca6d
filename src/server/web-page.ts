// The page at the server's root until the web console lands: where the API and its document are.
export function webPage(url: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Cairn</title></head><body>
<h1>Cairn backup server</h1>
<p>The REST API is at <code>${url}/api/</code>, described by <a href="/api/openapi.json">/api/openapi.json</a>.
Use the <code>cairn</code> CLI (<code>cairn login ${url} --user admin --password-stdin --ca ca.pem</code>).</p>
</body></html>`;
}
