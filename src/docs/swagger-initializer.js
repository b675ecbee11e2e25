// Served as /docs/swagger-initializer.js: a file, not an inline script, so the page's CSP can forbid inline code.
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  // The default validator badge loads an image from swagger.io; this page loads nothing from elsewhere.
  validatorUrl: null,
});
