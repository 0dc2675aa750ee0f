// The management API's reference page (/docs): Swagger UI over the document the page names.
// A file of its own because the page's CSP allows no inline script.
"use strict";
(() => {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    deepLinking: true,
    validatorUrl: null, // no badge from swagger.io: the page calls nothing but this API
  });
})();
