// Defining the card's elements at the right moment. The integration has Home Assistant load this
// module next to the frontend's own code (frontend.add_extra_js_url), so it can run before the
// frontend has put its custom-element registry in place of the browser's: elements defined then
// exist for the browser but not for the frontend, whose card picker and dashboards then fail with
// "Custom element not found". Defining them once the frontend has defined its root element
// (`home-assistant`) puts them in the registry the frontend reads.
export function defineWhenReady(elements: [string, CustomElementConstructor][], then: () => void): void {
  const define = (): void => {
    for (const [tag, element] of elements) {
      if (!customElements.get(tag)) customElements.define(tag, element);
    }
    then();
  };
  if (customElements.get("home-assistant")) define();
  else void customElements.whenDefined("home-assistant").then(define);
}
