var Ve=Object.defineProperty;var Ke=Object.getOwnPropertyDescriptor;var p=(n,t,e,s)=>{for(var i=s>1?void 0:s?Ke(t,e):t,r=n.length-1,o;r>=0;r--)(o=n[r])&&(i=(s?o(t,e,i):o(i))||i);return s&&i&&Ve(t,e,i),i};var Z=globalThis,W=Z.ShadowRoot&&(Z.ShadyCSS===void 0||Z.ShadyCSS.nativeShadow)&&"adoptedStyleSheets"in Document.prototype&&"replace"in CSSStyleSheet.prototype,ie=Symbol(),ye=new WeakMap,M=class{constructor(t,e,s){if(this._$cssResult$=!0,s!==ie)throw Error("CSSResult is not constructable. Use `unsafeCSS` or `css` instead.");this.cssText=t,this.t=e}get styleSheet(){let t=this.o,e=this.t;if(W&&t===void 0){let s=e!==void 0&&e.length===1;s&&(t=ye.get(e)),t===void 0&&((this.o=t=new CSSStyleSheet).replaceSync(this.cssText),s&&ye.set(e,t))}return t}toString(){return this.cssText}},$e=n=>new M(typeof n=="string"?n:n+"",void 0,ie),z=(n,...t)=>{let e=n.length===1?n[0]:t.reduce((s,i,r)=>s+(o=>{if(o._$cssResult$===!0)return o.cssText;if(typeof o=="number")return o;throw Error("Value passed to 'css' function must be a 'css' function result: "+o+". Use 'unsafeCSS' to pass non-literal values, but take care to ensure page security.")})(i)+n[r+1],n[0]);return new M(e,n,ie)},be=(n,t)=>{if(W)n.adoptedStyleSheets=t.map(e=>e instanceof CSSStyleSheet?e:e.styleSheet);else for(let e of t){let s=document.createElement("style"),i=Z.litNonce;i!==void 0&&s.setAttribute("nonce",i),s.textContent=e.cssText,n.appendChild(s)}},re=W?n=>n:n=>n instanceof CSSStyleSheet?(t=>{let e="";for(let s of t.cssRules)e+=s.cssText;return $e(e)})(n):n;var{is:Ge,defineProperty:Xe,getOwnPropertyDescriptor:Ye,getOwnPropertyNames:Je,getOwnPropertySymbols:Qe,getPrototypeOf:et}=Object,V=globalThis,_e=V.trustedTypes,tt=_e?_e.emptyScript:"",st=V.reactiveElementPolyfillSupport,L=(n,t)=>n,U={toAttribute(n,t){switch(t){case Boolean:n=n?tt:null;break;case Object:case Array:n=n==null?n:JSON.stringify(n)}return n},fromAttribute(n,t){let e=n;switch(t){case Boolean:e=n!==null;break;case Number:e=n===null?null:Number(n);break;case Object:case Array:try{e=JSON.parse(n)}catch{e=null}}return e}},K=(n,t)=>!Ge(n,t),we={attribute:!0,type:String,converter:U,reflect:!1,useDefault:!1,hasChanged:K};Symbol.metadata??=Symbol("metadata"),V.litPropertyMetadata??=new WeakMap;var _=class extends HTMLElement{static addInitializer(t){this._$Ei(),(this.l??=[]).push(t)}static get observedAttributes(){return this.finalize(),this._$Eh&&[...this._$Eh.keys()]}static createProperty(t,e=we){if(e.state&&(e.attribute=!1),this._$Ei(),this.prototype.hasOwnProperty(t)&&((e=Object.create(e)).wrapped=!0),this.elementProperties.set(t,e),!e.noAccessor){let s=Symbol(),i=this.getPropertyDescriptor(t,s,e);i!==void 0&&Xe(this.prototype,t,i)}}static getPropertyDescriptor(t,e,s){let{get:i,set:r}=Ye(this.prototype,t)??{get(){return this[e]},set(o){this[e]=o}};return{get:i,set(o){let h=i?.call(this);r?.call(this,o),this.requestUpdate(t,h,s)},configurable:!0,enumerable:!0}}static getPropertyOptions(t){return this.elementProperties.get(t)??we}static _$Ei(){if(this.hasOwnProperty(L("elementProperties")))return;let t=et(this);t.finalize(),t.l!==void 0&&(this.l=[...t.l]),this.elementProperties=new Map(t.elementProperties)}static finalize(){if(this.hasOwnProperty(L("finalized")))return;if(this.finalized=!0,this._$Ei(),this.hasOwnProperty(L("properties"))){let e=this.properties,s=[...Je(e),...Qe(e)];for(let i of s)this.createProperty(i,e[i])}let t=this[Symbol.metadata];if(t!==null){let e=litPropertyMetadata.get(t);if(e!==void 0)for(let[s,i]of e)this.elementProperties.set(s,i)}this._$Eh=new Map;for(let[e,s]of this.elementProperties){let i=this._$Eu(e,s);i!==void 0&&this._$Eh.set(i,e)}this.elementStyles=this.finalizeStyles(this.styles)}static finalizeStyles(t){let e=[];if(Array.isArray(t)){let s=new Set(t.flat(1/0).reverse());for(let i of s)e.unshift(re(i))}else t!==void 0&&e.push(re(t));return e}static _$Eu(t,e){let s=e.attribute;return s===!1?void 0:typeof s=="string"?s:typeof t=="string"?t.toLowerCase():void 0}constructor(){super(),this._$Ep=void 0,this.isUpdatePending=!1,this.hasUpdated=!1,this._$Em=null,this._$Ev()}_$Ev(){this._$ES=new Promise(t=>this.enableUpdating=t),this._$AL=new Map,this._$E_(),this.requestUpdate(),this.constructor.l?.forEach(t=>t(this))}addController(t){(this._$EO??=new Set).add(t),this.renderRoot!==void 0&&this.isConnected&&t.hostConnected?.()}removeController(t){this._$EO?.delete(t)}_$E_(){let t=new Map,e=this.constructor.elementProperties;for(let s of e.keys())this.hasOwnProperty(s)&&(t.set(s,this[s]),delete this[s]);t.size>0&&(this._$Ep=t)}createRenderRoot(){let t=this.shadowRoot??this.attachShadow(this.constructor.shadowRootOptions);return be(t,this.constructor.elementStyles),t}connectedCallback(){this.renderRoot??=this.createRenderRoot(),this.enableUpdating(!0),this._$EO?.forEach(t=>t.hostConnected?.())}enableUpdating(t){}disconnectedCallback(){this._$EO?.forEach(t=>t.hostDisconnected?.())}attributeChangedCallback(t,e,s){this._$AK(t,s)}_$ET(t,e){let s=this.constructor.elementProperties.get(t),i=this.constructor._$Eu(t,s);if(i!==void 0&&s.reflect===!0){let r=(s.converter?.toAttribute!==void 0?s.converter:U).toAttribute(e,s.type);this._$Em=t,r==null?this.removeAttribute(i):this.setAttribute(i,r),this._$Em=null}}_$AK(t,e){let s=this.constructor,i=s._$Eh.get(t);if(i!==void 0&&this._$Em!==i){let r=s.getPropertyOptions(i),o=typeof r.converter=="function"?{fromAttribute:r.converter}:r.converter?.fromAttribute!==void 0?r.converter:U;this._$Em=i;let h=o.fromAttribute(e,r.type);this[i]=h??this._$Ej?.get(i)??h,this._$Em=null}}requestUpdate(t,e,s,i=!1,r){if(t!==void 0){let o=this.constructor;if(i===!1&&(r=this[t]),s??=o.getPropertyOptions(t),!((s.hasChanged??K)(r,e)||s.useDefault&&s.reflect&&r===this._$Ej?.get(t)&&!this.hasAttribute(o._$Eu(t,s))))return;this.C(t,e,s)}this.isUpdatePending===!1&&(this._$ES=this._$EP())}C(t,e,{useDefault:s,reflect:i,wrapped:r},o){s&&!(this._$Ej??=new Map).has(t)&&(this._$Ej.set(t,o??e??this[t]),r!==!0||o!==void 0)||(this._$AL.has(t)||(this.hasUpdated||s||(e=void 0),this._$AL.set(t,e)),i===!0&&this._$Em!==t&&(this._$Eq??=new Set).add(t))}async _$EP(){this.isUpdatePending=!0;try{await this._$ES}catch(e){Promise.reject(e)}let t=this.scheduleUpdate();return t!=null&&await t,!this.isUpdatePending}scheduleUpdate(){return this.performUpdate()}performUpdate(){if(!this.isUpdatePending)return;if(!this.hasUpdated){if(this.renderRoot??=this.createRenderRoot(),this._$Ep){for(let[i,r]of this._$Ep)this[i]=r;this._$Ep=void 0}let s=this.constructor.elementProperties;if(s.size>0)for(let[i,r]of s){let{wrapped:o}=r,h=this[i];o!==!0||this._$AL.has(i)||h===void 0||this.C(i,void 0,r,h)}}let t=!1,e=this._$AL;try{t=this.shouldUpdate(e),t?(this.willUpdate(e),this._$EO?.forEach(s=>s.hostUpdate?.()),this.update(e)):this._$EM()}catch(s){throw t=!1,this._$EM(),s}t&&this._$AE(e)}willUpdate(t){}_$AE(t){this._$EO?.forEach(e=>e.hostUpdated?.()),this.hasUpdated||(this.hasUpdated=!0,this.firstUpdated(t)),this.updated(t)}_$EM(){this._$AL=new Map,this.isUpdatePending=!1}get updateComplete(){return this.getUpdateComplete()}getUpdateComplete(){return this._$ES}shouldUpdate(t){return!0}update(t){this._$Eq&&=this._$Eq.forEach(e=>this._$ET(e,this[e])),this._$EM()}updated(t){}firstUpdated(t){}};_.elementStyles=[],_.shadowRootOptions={mode:"open"},_[L("elementProperties")]=new Map,_[L("finalized")]=new Map,st?.({ReactiveElement:_}),(V.reactiveElementVersions??=[]).push("2.1.2");var he=globalThis,xe=n=>n,G=he.trustedTypes,Ee=G?G.createPolicy("lit-html",{createHTML:n=>n}):void 0,Re="$lit$",E=`lit$${Math.random().toFixed(9).slice(2)}$`,Te="?"+E,it=`<${Te}>`,S=document,F=()=>S.createComment(""),N=n=>n===null||typeof n!="object"&&typeof n!="function",pe=Array.isArray,rt=n=>pe(n)||typeof n?.[Symbol.iterator]=="function",ne=`[ 	
\f\r]`,D=/<(?:(!--|\/[^a-zA-Z])|(\/?[a-zA-Z][^>\s]*)|(\/?$))/g,Ae=/-->/g,ke=/>/g,A=RegExp(`>|${ne}(?:([^\\s"'>=/]+)(${ne}*=${ne}*(?:[^ 	
\f\r"'\`<>=]|("|')|))|$)`,"g"),Se=/'/g,Ce=/"/g,Oe=/^(?:script|style|textarea|title)$/i,ue=n=>(t,...e)=>({_$litType$:n,strings:t,values:e}),a=ue(1),Me=ue(2),kt=ue(3),C=Symbol.for("lit-noChange"),c=Symbol.for("lit-nothing"),Pe=new WeakMap,k=S.createTreeWalker(S,129);function ze(n,t){if(!pe(n)||!n.hasOwnProperty("raw"))throw Error("invalid template strings array");return Ee!==void 0?Ee.createHTML(t):t}var nt=(n,t)=>{let e=n.length-1,s=[],i,r=t===2?"<svg>":t===3?"<math>":"",o=D;for(let h=0;h<e;h++){let l=n[h],v,g,d=-1,b=0;for(;b<l.length&&(o.lastIndex=b,g=o.exec(l),g!==null);)b=o.lastIndex,o===D?g[1]==="!--"?o=Ae:g[1]!==void 0?o=ke:g[2]!==void 0?(Oe.test(g[2])&&(i=RegExp("</"+g[2],"g")),o=A):g[3]!==void 0&&(o=A):o===A?g[0]===">"?(o=i??D,d=-1):g[1]===void 0?d=-2:(d=o.lastIndex-g[2].length,v=g[1],o=g[3]===void 0?A:g[3]==='"'?Ce:Se):o===Ce||o===Se?o=A:o===Ae||o===ke?o=D:(o=A,i=void 0);let x=o===A&&n[h+1].startsWith("/>")?" ":"";r+=o===D?l+it:d>=0?(s.push(v),l.slice(0,d)+Re+l.slice(d)+E+x):l+E+(d===-2?h:x)}return[ze(n,r+(n[e]||"<?>")+(t===2?"</svg>":t===3?"</math>":"")),s]},j=class n{constructor({strings:t,_$litType$:e},s){let i;this.parts=[];let r=0,o=0,h=t.length-1,l=this.parts,[v,g]=nt(t,e);if(this.el=n.createElement(v,s),k.currentNode=this.el.content,e===2||e===3){let d=this.el.content.firstChild;d.replaceWith(...d.childNodes)}for(;(i=k.nextNode())!==null&&l.length<h;){if(i.nodeType===1){if(i.hasAttributes())for(let d of i.getAttributeNames())if(d.endsWith(Re)){let b=g[o++],x=i.getAttribute(d).split(E),B=/([.?@])?(.*)/.exec(b);l.push({type:1,index:r,name:B[2],strings:x,ctor:B[1]==="."?ae:B[1]==="?"?le:B[1]==="@"?de:T}),i.removeAttribute(d)}else d.startsWith(E)&&(l.push({type:6,index:r}),i.removeAttribute(d));if(Oe.test(i.tagName)){let d=i.textContent.split(E),b=d.length-1;if(b>0){i.textContent=G?G.emptyScript:"";for(let x=0;x<b;x++)i.append(d[x],F()),k.nextNode(),l.push({type:2,index:++r});i.append(d[b],F())}}}else if(i.nodeType===8)if(i.data===Te)l.push({type:2,index:r});else{let d=-1;for(;(d=i.data.indexOf(E,d+1))!==-1;)l.push({type:7,index:r}),d+=E.length-1}r++}}static createElement(t,e){let s=S.createElement("template");return s.innerHTML=t,s}};function R(n,t,e=n,s){if(t===C)return t;let i=s!==void 0?e._$Co?.[s]:e._$Cl,r=N(t)?void 0:t._$litDirective$;return i?.constructor!==r&&(i?._$AO?.(!1),r===void 0?i=void 0:(i=new r(n),i._$AT(n,e,s)),s!==void 0?(e._$Co??=[])[s]=i:e._$Cl=i),i!==void 0&&(t=R(n,i._$AS(n,t.values),i,s)),t}var oe=class{constructor(t,e){this._$AV=[],this._$AN=void 0,this._$AD=t,this._$AM=e}get parentNode(){return this._$AM.parentNode}get _$AU(){return this._$AM._$AU}u(t){let{el:{content:e},parts:s}=this._$AD,i=(t?.creationScope??S).importNode(e,!0);k.currentNode=i;let r=k.nextNode(),o=0,h=0,l=s[0];for(;l!==void 0;){if(o===l.index){let v;l.type===2?v=new H(r,r.nextSibling,this,t):l.type===1?v=new l.ctor(r,l.name,l.strings,this,t):l.type===6&&(v=new ce(r,this,t)),this._$AV.push(v),l=s[++h]}o!==l?.index&&(r=k.nextNode(),o++)}return k.currentNode=S,i}p(t){let e=0;for(let s of this._$AV)s!==void 0&&(s.strings!==void 0?(s._$AI(t,s,e),e+=s.strings.length-2):s._$AI(t[e])),e++}},H=class n{get _$AU(){return this._$AM?._$AU??this._$Cv}constructor(t,e,s,i){this.type=2,this._$AH=c,this._$AN=void 0,this._$AA=t,this._$AB=e,this._$AM=s,this.options=i,this._$Cv=i?.isConnected??!0}get parentNode(){let t=this._$AA.parentNode,e=this._$AM;return e!==void 0&&t?.nodeType===11&&(t=e.parentNode),t}get startNode(){return this._$AA}get endNode(){return this._$AB}_$AI(t,e=this){t=R(this,t,e),N(t)?t===c||t==null||t===""?(this._$AH!==c&&this._$AR(),this._$AH=c):t!==this._$AH&&t!==C&&this._(t):t._$litType$!==void 0?this.$(t):t.nodeType!==void 0?this.T(t):rt(t)?this.k(t):this._(t)}O(t){return this._$AA.parentNode.insertBefore(t,this._$AB)}T(t){this._$AH!==t&&(this._$AR(),this._$AH=this.O(t))}_(t){this._$AH!==c&&N(this._$AH)?this._$AA.nextSibling.data=t:this.T(S.createTextNode(t)),this._$AH=t}$(t){let{values:e,_$litType$:s}=t,i=typeof s=="number"?this._$AC(t):(s.el===void 0&&(s.el=j.createElement(ze(s.h,s.h[0]),this.options)),s);if(this._$AH?._$AD===i)this._$AH.p(e);else{let r=new oe(i,this),o=r.u(this.options);r.p(e),this.T(o),this._$AH=r}}_$AC(t){let e=Pe.get(t.strings);return e===void 0&&Pe.set(t.strings,e=new j(t)),e}k(t){pe(this._$AH)||(this._$AH=[],this._$AR());let e=this._$AH,s,i=0;for(let r of t)i===e.length?e.push(s=new n(this.O(F()),this.O(F()),this,this.options)):s=e[i],s._$AI(r),i++;i<e.length&&(this._$AR(s&&s._$AB.nextSibling,i),e.length=i)}_$AR(t=this._$AA.nextSibling,e){for(this._$AP?.(!1,!0,e);t!==this._$AB;){let s=xe(t).nextSibling;xe(t).remove(),t=s}}setConnected(t){this._$AM===void 0&&(this._$Cv=t,this._$AP?.(t))}},T=class{get tagName(){return this.element.tagName}get _$AU(){return this._$AM._$AU}constructor(t,e,s,i,r){this.type=1,this._$AH=c,this._$AN=void 0,this.element=t,this.name=e,this._$AM=i,this.options=r,s.length>2||s[0]!==""||s[1]!==""?(this._$AH=Array(s.length-1).fill(new String),this.strings=s):this._$AH=c}_$AI(t,e=this,s,i){let r=this.strings,o=!1;if(r===void 0)t=R(this,t,e,0),o=!N(t)||t!==this._$AH&&t!==C,o&&(this._$AH=t);else{let h=t,l,v;for(t=r[0],l=0;l<r.length-1;l++)v=R(this,h[s+l],e,l),v===C&&(v=this._$AH[l]),o||=!N(v)||v!==this._$AH[l],v===c?t=c:t!==c&&(t+=(v??"")+r[l+1]),this._$AH[l]=v}o&&!i&&this.j(t)}j(t){t===c?this.element.removeAttribute(this.name):this.element.setAttribute(this.name,t??"")}},ae=class extends T{constructor(){super(...arguments),this.type=3}j(t){this.element[this.name]=t===c?void 0:t}},le=class extends T{constructor(){super(...arguments),this.type=4}j(t){this.element.toggleAttribute(this.name,!!t&&t!==c)}},de=class extends T{constructor(t,e,s,i,r){super(t,e,s,i,r),this.type=5}_$AI(t,e=this){if((t=R(this,t,e,0)??c)===C)return;let s=this._$AH,i=t===c&&s!==c||t.capture!==s.capture||t.once!==s.once||t.passive!==s.passive,r=t!==c&&(s===c||i);i&&this.element.removeEventListener(this.name,this,s),r&&this.element.addEventListener(this.name,this,t),this._$AH=t}handleEvent(t){typeof this._$AH=="function"?this._$AH.call(this.options?.host??this.element,t):this._$AH.handleEvent(t)}},ce=class{constructor(t,e,s){this.element=t,this.type=6,this._$AN=void 0,this._$AM=e,this.options=s}get _$AU(){return this._$AM._$AU}_$AI(t){R(this,t)}};var ot=he.litHtmlPolyfillSupport;ot?.(j,H),(he.litHtmlVersions??=[]).push("3.3.3");var Le=(n,t,e)=>{let s=e?.renderBefore??t,i=s._$litPart$;if(i===void 0){let r=e?.renderBefore??null;s._$litPart$=i=new H(t.insertBefore(F(),r),r,void 0,e??{})}return i._$AI(n),i};var ve=globalThis,f=class extends _{constructor(){super(...arguments),this.renderOptions={host:this},this._$Do=void 0}createRenderRoot(){let t=super.createRenderRoot();return this.renderOptions.renderBefore??=t.firstChild,t}update(t){let e=this.render();this.hasUpdated||(this.renderOptions.isConnected=this.isConnected),super.update(t),this._$Do=Le(e,this.renderRoot,this.renderOptions)}connectedCallback(){super.connectedCallback(),this._$Do?.setConnected(!0)}disconnectedCallback(){super.disconnectedCallback(),this._$Do?.setConnected(!1)}render(){return C}};f._$litElement$=!0,f.finalized=!0,ve.litElementHydrateSupport?.({LitElement:f});var at=ve.litElementPolyfillSupport;at?.({LitElement:f});(ve.litElementVersions??=[]).push("4.2.2");var lt={attribute:!0,type:String,converter:U,reflect:!1,hasChanged:K},dt=(n=lt,t,e)=>{let{kind:s,metadata:i}=e,r=globalThis.litPropertyMetadata.get(i);if(r===void 0&&globalThis.litPropertyMetadata.set(i,r=new Map),s==="setter"&&((n=Object.create(n)).wrapped=!0),r.set(e.name,n),s==="accessor"){let{name:o}=e;return{set(h){let l=t.get.call(this);t.set.call(this,h),this.requestUpdate(o,l,n,!0,h)},init(h){return h!==void 0&&this.C(o,void 0,n,h),h}}}if(s==="setter"){let{name:o}=e;return function(h){let l=this[o];t.call(this,h),this.requestUpdate(o,l,n,!0,h)}}throw Error("Unsupported decorator location: "+s)};function $(n){return(t,e)=>typeof e=="object"?dt(n,t,e):((s,i,r)=>{let o=i.hasOwnProperty(r);return i.constructor.createProperty(r,s),o?Object.getOwnPropertyDescriptor(i,r):void 0})(n,t,e)}function u(n){return $({...n,state:!0,attribute:!1})}var O="home_security_intelligence";var Y=n=>n.callWS({type:`${O}/overview`}),De=(n,t,e,s,i)=>n.callWS({type:`${O}/events`,...t?{entry_id:t}:{},limit:s,...e,...i?{cursor:i}:{}}),Fe=(n,t,e)=>n.callWS({type:`${O}/event`,entry_id:t,event_id:e}),Ne=(n,t)=>n.connection.subscribeMessage(t,{type:`${O}/subscribe`}),me=(n,t,e,s)=>n.callService(O,s,{config_entry_id:t,alert_id:e}),je=(n,t,e,s)=>n.callService(O,"review_event",{config_entry_id:t,event_id:e,reviewed:s}),ct=n=>n.map(([t,e])=>`${Ue(t)},${Ue(e)}`).join(" "),Ue=n=>Math.round(Math.min(1,Math.max(0,n))*1e4)/1e4,ht=n=>[1,3,5].map(t=>parseInt(n.slice(t,t+2),16));async function He(n,t,e){let s=await n.callApi("POST","config/config_entries/subentries/flow",{handler:[t,"zone"],...e.subentry_id?{subentry_id:e.subentry_id}:{}});if(s.type!=="form")throw new Error(s.reason??"the zone form did not open");let i=await n.callApi("POST",`config/config_entries/subentries/flow/${s.flow_id}`,{...e.subentry_id?{}:{camera_id:e.camera_id},name:e.name,zone_type:e.zone_type,coordinates:ct(e.points),shape:e.shape,color:ht(e.color),enabled:e.enabled,priority:e.priority,...e.loitering_seconds?{loitering_seconds:e.loitering_seconds}:{},...e.loitering_classes?.length?{loitering_classes:e.loitering_classes}:{}});if(i.type==="form"){let r=Object.entries(i.errors??{}).map(([h,l])=>`${h}: ${l}`),o=i.description_placeholders?.message;throw new Error([...r,o].filter(Boolean).join("; ")||"the server refused the zone")}if(i.type==="abort"&&i.reason!=="reconfigure_successful")throw new Error(i.reason??"aborted")}var Ie=(n,t,e)=>n.callWS({type:"config_entries/subentries/delete",entry_id:t,subentry_id:e.subentry_id});function qe(n,t){let e=()=>{for(let[s,i]of n)customElements.get(s)||customElements.define(s,i);t()};customElements.get("home-assistant")?e():customElements.whenDefined("home-assistant").then(e)}var pt={low:"#43a047",medium:"#f9a825",high:"#ef6c00",critical:"#d50000"},ut="#9e9e9e",Q=[["low",0],["medium",30],["high",60],["critical",85]],w=n=>n&&pt[n]||ut,vt=n=>n.locale?.language??n.language??"en",J=(n,t)=>{let e=n.locale,s=e?.time_zone==="local"?void 0:n.config.time_zone,i=e?.time_format==="24"?{hourCycle:"h23"}:e?.time_format==="12"?{hourCycle:"h12"}:{};return new Intl.DateTimeFormat(vt(n),{timeZone:s,...i,...t})},I=(n,t)=>J(n,{hour:"2-digit",minute:"2-digit",second:"2-digit"}).format(new Date(t)),Be=(n,t)=>J(n,{dateStyle:"medium",timeStyle:"medium"}).format(new Date(t)),mt=(n,t)=>{let e=new Date(t),s=J(n,{year:"numeric",month:"2-digit",day:"2-digit"}).format(e),i=J(n,{weekday:"long",day:"numeric",month:"long",year:"numeric"}).format(e);return{key:s,label:i}},Ze=(n,t)=>{let e=[];for(let s of t){let i=mt(n,s.started_at),r=e[e.length-1];r&&r.key===i.key?r.events.push(s):e.push({...i,events:[s]})}return e},ee=n=>n.length?n.join(", "):"activity";var gt={title:"Title",entry_id:"Server",camera_id:"Camera",min_risk:"Minimum risk",reviewed:"Reviewed events",page_size:"Events per page"},P=class extends f{setConfig(t){this.config=t}updated(){this.hass&&!this.overview&&(this.overview={servers:[],url_ttl:0},Y(this.hass).then(t=>this.overview=t,()=>{}))}schema(){let t=this.overview?.servers??[],e=t.find(i=>i.entry_id===this.config?.entry_id)??t[0],s=i=>({select:{mode:"dropdown",options:i}});return[{name:"title",selector:{text:{}}},...t.length>1?[{name:"entry_id",selector:s(t.map(i=>({value:i.entry_id,label:i.title})))}]:[],{name:"camera_id",selector:s([{value:"",label:"All cameras"},...(e?.cameras??[]).map(i=>({value:i.id,label:i.name}))])},{name:"min_risk",selector:s(Q.map(([i,r])=>({value:String(r),label:r?`${i} and above`:"Any"})))},{name:"reviewed",selector:s([{value:"all",label:"Reviewed and not"},{value:"unreviewed",label:"Not reviewed"},{value:"reviewed",label:"Reviewed"}])},{name:"page_size",selector:{number:{min:10,max:100,step:10,mode:"box"}}}]}render(){if(!this.hass||!this.config)return a``;let t={camera_id:"",reviewed:"all",page_size:50,...this.config,min_risk:String(this.config.min_risk??0)};return a`<ha-form
      .hass=${this.hass}
      .data=${t}
      .schema=${this.schema()}
      .computeLabel=${e=>gt[e.name]??e.name}
      @value-changed=${this.changed}
    ></ha-form>`}changed(t){let e={...t.detail.value},s={...e,min_risk:Number(e.min_risk??0)},i=this.overview?.servers.find(r=>r.entry_id===s.entry_id);i&&!i.cameras.some(r=>r.id===s.camera_id)&&delete s.camera_id;for(let r of Object.keys(s)){let o=s[r]===""||s[r]===void 0,h=r==="min_risk"&&s[r]===0||r==="reviewed"&&s[r]==="all";(o||h||r==="page_size"&&s[r]===50)&&delete s[r]}this.dispatchEvent(new CustomEvent("config-changed",{detail:{config:s},bubbles:!0,composed:!0}))}};p([$({attribute:!1})],P.prototype,"hass",2),p([u()],P.prototype,"config",2),p([u()],P.prototype,"overview",2);var se=z`
  :host {
    display: block;
  }
  ha-card {
    overflow: hidden;
    padding-bottom: 8px;
  }
  .header {
    display: flex;
    align-items: center;
    justify-content: space-between;
    padding: 12px 16px 4px;
    font-size: 1.2em;
    font-weight: 500;
  }
  .badge {
    font-size: 0.75em;
    border-radius: 12px;
    padding: 2px 10px;
    color: #fff;
    background: var(--error-color, #db4437);
  }
  .cameras {
    display: flex;
    gap: 8px;
    overflow-x: auto;
    padding: 8px 16px;
    scroll-snap-type: x mandatory;
  }
  .camera {
    flex: 0 0 180px;
    scroll-snap-align: start;
    border-radius: 8px;
    overflow: hidden;
    background: var(--secondary-background-color);
    position: relative;
    cursor: pointer;
  }
  .camera img {
    display: block;
    width: 100%;
    aspect-ratio: 4 / 3;
    object-fit: cover;
    background: #000;
  }
  .camera .info {
    display: flex;
    align-items: center;
    gap: 6px;
    padding: 6px 8px;
    font-size: 0.9em;
  }
  .camera .name {
    flex: 1;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .camera.selected {
    outline: 2px solid var(--primary-color);
  }
  .dot {
    width: 8px;
    height: 8px;
    border-radius: 50%;
    flex: none;
  }
  .chip {
    font-size: 0.75em;
    border-radius: 10px;
    padding: 1px 8px;
    color: #fff;
    white-space: nowrap;
  }
  .zones-button {
    position: absolute;
    top: 6px;
    right: 6px;
    border: none;
    border-radius: 14px;
    padding: 3px 10px;
    font: inherit;
    font-size: 0.8em;
    background: rgba(0, 0, 0, 0.6);
    color: #fff;
    cursor: pointer;
  }
  .section-title {
    padding: 8px 16px 4px;
    font-weight: 500;
    color: var(--secondary-text-color);
  }
  .alert {
    display: flex;
    flex-wrap: wrap;
    gap: 8px 10px;
    align-items: center;
    margin: 4px 16px;
    padding: 6px;
    border-radius: 8px;
    border-left: 4px solid;
    background: var(--secondary-background-color);
  }
  .alert img {
    width: 64px;
    height: 48px;
    object-fit: cover;
    border-radius: 4px;
    flex: none;
  }
  .alert .text {
    flex: 1 1 160px;
    min-width: 0;
    font-size: 0.9em;
  }
  .actions {
    display: flex;
    gap: 6px;
    flex-wrap: wrap;
  }
  button.action {
    border: 1px solid var(--divider-color);
    border-radius: 6px;
    padding: 6px 10px;
    font: inherit;
    font-size: 0.85em;
    background: var(--card-background-color);
    color: var(--primary-text-color);
    cursor: pointer;
  }
  button.action.primary {
    background: var(--primary-color);
    border-color: var(--primary-color);
    color: var(--text-primary-color, #fff);
  }
  button.action:disabled {
    opacity: 0.5;
    cursor: default;
  }
  .filters {
    display: flex;
    gap: 8px;
    flex-wrap: wrap;
    padding: 4px 16px 8px;
  }
  select,
  input {
    font: inherit;
    padding: 4px 6px;
    border-radius: 6px;
    border: 1px solid var(--divider-color);
    background: var(--card-background-color);
    color: var(--primary-text-color);
  }
  .timeline {
    max-height: var(--hsi-timeline-height, 640px);
    overflow-y: auto;
    padding: 0 8px;
  }
  .day {
    position: sticky;
    top: 0;
    z-index: 1;
    padding: 6px 8px;
    font-weight: 500;
    font-size: 0.9em;
    background: var(--card-background-color, var(--ha-card-background));
    color: var(--secondary-text-color);
  }
  .event {
    display: flex;
    gap: 10px;
    padding: 6px 8px;
    border-left: 4px solid;
    margin: 2px 0 6px;
    cursor: pointer;
    border-radius: 4px;
  }
  .event:hover {
    background: var(--secondary-background-color);
  }
  .event img,
  .event .noimage {
    width: 96px;
    height: 72px;
    object-fit: cover;
    border-radius: 4px;
    flex: none;
    background: #000;
  }
  .event .text {
    min-width: 0;
    flex: 1;
  }
  .line {
    display: flex;
    gap: 6px;
    align-items: center;
    flex-wrap: wrap;
    font-size: 0.85em;
    color: var(--secondary-text-color);
  }
  .summary {
    margin-top: 2px;
    font-size: 0.95em;
    overflow: hidden;
    display: -webkit-box;
    -webkit-line-clamp: 2;
    -webkit-box-orient: vertical;
  }
  .reviewed {
    opacity: 0.65;
  }
  .status {
    padding: 12px 16px;
    color: var(--secondary-text-color);
  }
  .error {
    color: var(--error-color, #db4437);
  }
  .overlay {
    position: fixed;
    inset: 0;
    z-index: 10;
    background: rgba(0, 0, 0, 0.55);
    display: flex;
    align-items: center;
    justify-content: center;
  }
  .panel {
    background: var(--card-background-color, #fff);
    color: var(--primary-text-color);
    width: min(920px, 96vw);
    max-height: 92vh;
    overflow-y: auto;
    border-radius: 12px;
    padding: 12px 16px 16px;
    box-sizing: border-box;
  }
  .panel-header {
    display: flex;
    align-items: center;
    gap: 8px;
    margin-bottom: 8px;
  }
  .panel-header .title {
    flex: 1;
    font-size: 1.1em;
    font-weight: 500;
  }
  video {
    width: 100%;
    max-height: 50vh;
    background: #000;
    border-radius: 8px;
  }
  .detections {
    display: grid;
    grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
    gap: 8px;
    margin: 8px 0;
  }
  .detections figure {
    margin: 0;
    font-size: 0.8em;
    color: var(--secondary-text-color);
  }
  .detections img {
    width: 100%;
    border-radius: 6px;
    display: block;
    background: #000;
  }
  .field {
    margin: 6px 0;
  }
  .field .label {
    font-size: 0.8em;
    color: var(--secondary-text-color);
  }
  @media (max-width: 600px) {
    .overlay {
      align-items: stretch;
    }
    .panel {
      width: 100vw;
      max-height: 100vh;
      border-radius: 0;
    }
    .camera {
      flex-basis: 150px;
    }
    .event img,
    .event .noimage {
      width: 72px;
      height: 54px;
    }
  }
`;var ft=["entry_point","driveway","sidewalk","yard","other"],ge="#3B82F6",y=class extends f{constructor(){super(...arguments);this.entryId="";this.zones=[];this.saving=!1;this.dragging=null}newZone(){this.message=void 0,this.draft={camera_id:this.camera.id,name:"",zone_type:"other",points:[],color:ge,priority:0,shape:"polygon",enabled:!0,loitering_seconds:null,loitering_classes:null,subentry_id:null}}editZone(e){this.message=void 0,this.draft={camera_id:e.camera_id,name:e.name,zone_type:e.zone_type,points:e.coordinates.map(([s,i])=>[s,i]),color:e.color||ge,priority:e.priority,shape:e.shape||"polygon",enabled:e.enabled,loitering_seconds:e.loitering_seconds??null,loitering_classes:e.loitering_classes??null,subentry_id:e.subentry_id}}position(e){let s=this.shadowRoot.querySelector(".canvas img").getBoundingClientRect(),i=r=>Math.min(1,Math.max(0,r));return[i((e.clientX-s.left)/s.width),i((e.clientY-s.top)/s.height)]}fitCanvas(e){e.naturalHeight&&e.parentElement.style.setProperty("--aspect",String(e.naturalWidth/e.naturalHeight))}onPointerDown(e){if(!this.draft)return;let s=e.target.closest(".handle");if(s){this.dragging=Number(s.dataset.index),e.currentTarget.setPointerCapture(e.pointerId);return}this.draft={...this.draft,points:[...this.draft.points,this.position(e)]}}onPointerMove(e){if(this.dragging===null||!this.draft)return;let s=[...this.draft.points];s[this.dragging]=this.position(e),this.draft={...this.draft,points:s}}onPointerUp(){this.dragging=null}async save(){let e=this.draft;if(!e.name.trim()||e.points.length<3){this.message={text:"A zone needs a name and at least three points.",error:!0};return}await this.change(()=>He(this.hass,this.entryId,e),`Saved ${e.name}.`,"Not saved")}async change(e,s,i){this.saving=!0;try{await e(),this.message={text:s,error:!1},this.draft=void 0,this.dispatchEvent(new CustomEvent("zones-changed"))}catch(r){this.message={text:`${i}: ${r.message??r}`,error:!0}}finally{this.saving=!1}}render(){if(!this.camera)return a``;let e=this.draft,s=this.zones.find(o=>e?.subentry_id&&o.subentry_id===e.subentry_id),i=this.zones.filter(o=>o!==s),r=()=>{this.dispatchEvent(new CustomEvent("close"))};return a`<div class="overlay" @click=${r}>
      <div class="panel zone-editor" @click=${o=>o.stopPropagation()}>
        <div class="panel-header">
          <span class="title">Zones · ${this.camera.name}</span>
          <button class="action close" @click=${r}>Close</button>
        </div>
        <div class="zone-list">
          ${this.zones.map(o=>a`<button class="action ${s===o?"selected":""}" data-zone=${o.id}
              @click=${()=>this.editZone(o)}>${o.name}</button>`)}
          <button class="action primary new-zone" @click=${()=>this.newZone()}>New zone</button>
        </div>
        <div class="hint">
          ${e?"Click the image to add points; drag a point to move it.":"Pick a zone to edit, or draw a new one."}
        </div>
        <div class="canvas" @pointerdown=${this.onPointerDown} @pointermove=${this.onPointerMove}
          @pointerup=${this.onPointerUp} @pointercancel=${this.onPointerUp}>
          <img alt=${this.camera.name} src=${this.camera.snapshot_url??""} draggable="false"
            @load=${o=>this.fitCanvas(o.target)} />
          <svg viewBox="0 0 1 1" preserveAspectRatio="none">
            ${i.map(o=>this.polygon(o.coordinates,o.color||ge,.2))}
            ${e?this.polygon(e.points,e.color,.35):c}
          </svg>
          ${e?.points.map(([o,h],l)=>a`<div class="handle" data-index=${l} style="left:${o*100}%;top:${h*100}%"></div>`)}
        </div>
        ${e?a`<div class="form">
              <input class="zone-name" placeholder="Zone name" .value=${e.name}
                @input=${o=>this.draft={...e,name:o.target.value}} />
              <select class="zone-type" @change=${o=>this.draft={...e,zone_type:o.target.value}}>
                ${ft.map(o=>a`<option value=${o} ?selected=${e.zone_type===o}>${o.replace("_"," ")}</option>`)}
              </select>
              <button class="action undo" ?disabled=${!e.points.length}
                @click=${()=>this.draft={...e,points:e.points.slice(0,-1)}}>Remove last point</button>
              <button class="action primary save-zone" ?disabled=${this.saving} @click=${()=>{this.save()}}>Save</button>
              ${s?a`<button class="action delete-zone" ?disabled=${this.saving} @click=${()=>{this.change(()=>Ie(this.hass,this.entryId,s),`Deleted ${s.name}.`,"Not deleted")}}>Delete</button>`:c}
            </div>`:c}
        ${this.message?a`<div class="status ${this.message.error?"error":"saved"}">${this.message.text}</div>`:c}
      </div>
    </div>`}polygon(e,s,i){let r=e.map(([o,h])=>`${o},${h}`).join(" ");return Me`<polygon points=${r} fill=${s} fill-opacity=${i} stroke=${s}
      stroke-width="2" vector-effect="non-scaling-stroke"></polygon>`}};y.styles=[se,z`
      .canvas {
        /* The whole image in view while drawing: as wide as the panel allows and no taller than the
           screen leaves room for (--aspect: the image's width / height, set once it loads). */
        width: min(100%, calc((100vh - 240px) * var(--aspect, 1.333)));
        margin: 0 auto;
        position: relative;
        user-select: none;
        touch-action: none;
        cursor: crosshair;
        line-height: 0;
      }
      .canvas img {
        width: 100%;
        border-radius: 8px;
        background: #000;
      }
      svg {
        position: absolute;
        inset: 0;
        width: 100%;
        height: 100%;
        pointer-events: none;
      }
      .handle {
        position: absolute;
        width: 14px;
        height: 14px;
        margin: -7px 0 0 -7px;
        border-radius: 50%;
        background: #fff;
        border: 2px solid var(--primary-color);
        box-sizing: border-box;
        cursor: grab;
      }
      .zone-list {
        display: flex;
        gap: 6px;
        flex-wrap: wrap;
        margin: 8px 0;
      }
      .zone-list button.selected {
        outline: 2px solid var(--primary-color);
      }
      .form {
        display: flex;
        gap: 8px;
        flex-wrap: wrap;
        align-items: center;
        margin-top: 8px;
      }
      .hint {
        font-size: 0.85em;
        color: var(--secondary-text-color);
        margin: 6px 0;
      }
    `],p([$({attribute:!1})],y.prototype,"hass",2),p([$({attribute:!1})],y.prototype,"entryId",2),p([$({attribute:!1})],y.prototype,"camera",2),p([$({attribute:!1})],y.prototype,"zones",2),p([u()],y.prototype,"draft",2),p([u()],y.prototype,"message",2),p([u()],y.prototype,"saving",2);var q="home-security-intelligence-card",yt="hsi-card:opened",$t="hsi-card:first-page",bt="hsi-card:time-to-first-page",fe=n=>t=>{(t.key==="Enter"||t.key===" ")&&t.target===t.currentTarget&&(t.preventDefault(),n())},m=class extends f{constructor(){super(...arguments);this.events=[];this.cursor=null;this.loading=!1;this.cameraFilter="";this.minRisk=0;this.reviewedFilter="all";this.busy=new Set;this.pageRequest=0;this.detailRequest=0;this.pageFailed=!1;this.firstPageMarked=!1;this.started=!1}static getConfigElement(){return document.createElement(`${q}-editor`)}static getStubConfig(){return{title:"Security"}}setConfig(e){if(!e)throw new Error("Invalid configuration");if(e.page_size!==void 0&&!(e.page_size>=1&&e.page_size<=100))throw new Error("page_size must be between 1 and 100");this.config=e,this.cameraFilter=e.camera_id??"",this.minRisk=e.min_risk??0,this.reviewedFilter=e.reviewed??"all",this.started=!1,this.start()}getCardSize(){return 10}getGridOptions(){return{columns:12,min_columns:6,rows:"auto"}}connectedCallback(){super.connectedCallback(),this.openedAt===void 0&&(this.openedAt=performance.now(),performance.mark(yt)),this.start()}disconnectedCallback(){super.disconnectedCallback(),this.started=!1,this.unsubscribe?.then(e=>e()).catch(()=>{}),this.unsubscribe=void 0,this.observer?.disconnect(),window.clearInterval(this.refreshTimer),this.refreshTimer=void 0}willUpdate(e){if(e.has("hass")){let s=e.get("hass");this.started&&s?.connected===!1&&this.hass?.connected&&this.reload(),this.start()}}start(){this.started||!this.hass||!this.config||!this.isConnected||(this.started=!0,this.reload())}get server(){let e=this.overview?.servers??[];return e.find(s=>s.entry_id===this.entryId)??e[0]}get entryId(){return this.config?.entry_id??this.pageEntryId??this.overview?.servers[0]?.entry_id}get pageSize(){return this.config?.page_size??50}filters(){let e={};return this.cameraFilter&&(e.camera_id=this.cameraFilter),this.minRisk>0&&(e.min_risk=this.minRisk),this.reviewedFilter!=="all"&&(e.reviewed=this.reviewedFilter==="reviewed"),e}async reload(){if(this.hass){this.subscribe();try{await Promise.all([this.loadOverview(),this.loadPage(!0)]),!this.pageEntryId&&this.entryId&&(this.error=void 0,await this.loadPage(!0))}catch(e){this.error=String(e.message??e)}if(this.refreshTimer===void 0&&this.overview&&this.started&&this.isConnected){let e=Math.max(60,this.overview.url_ttl/2)*1e3;this.refreshTimer=window.setInterval(()=>{this.refresh()},e)}}}async refresh(){let e=this.detail;await Promise.all([this.loadOverview(),this.reloadPages(Math.max(this.pageSize,this.events.length)),e?this.openEvent(e.event.id,!0):void 0])}async reloadPages(e){for(await this.loadPage(!0,Math.min(100,e));this.events.length<e&&this.cursor;)await this.loadPage(!1,Math.min(100,e-this.events.length))}loadOverview(){return this.overviewPending??=Y(this.hass).then(e=>{this.overview=e,this.error=e.servers.length?void 0:"No Home Security Intelligence server is set up."}).finally(()=>{this.overviewPending=void 0}),this.overviewPending}async loadPage(e,s=this.pageSize){if(!this.hass||!e&&!this.cursor)return;let i=++this.pageRequest;this.loading=!0;try{let r=await De(this.hass,this.entryId,this.filters(),s,e?null:this.cursor);if(i!==this.pageRequest)return;this.pageEntryId=r.entry_id,this.pageFailed&&(this.error=void 0),this.pageFailed=!1,this.events=e?r.events:[...this.events,...r.events.filter(o=>!this.events.some(h=>h.id===o.id))],this.cursor=r.next_cursor}catch(r){this.error=String(r.message??r),this.pageFailed=!0}finally{i===this.pageRequest&&(this.loading=!1)}}subscribe(){this.unsubscribe||!this.hass||(this.unsubscribe=Ne(this.hass,e=>this.onLive(e)),this.unsubscribe.catch(e=>{this.unsubscribe=void 0,this.error=String(e.message??e)}))}onLive(e){if(e.entry_id===this.entryId)if(e.kind==="event"){let s=e.event,i=this.events.some(r=>r.id===s.id);this.matchesFilters(s)?i?this.events=this.events.map(r=>r.id===s.id?s:r):this.withinLoaded(s)&&(this.events=[...this.events,s].sort((r,o)=>o.started_at.localeCompare(r.started_at)||o.id-r.id)):i&&(this.events=this.events.filter(r=>r.id!==s.id)),this.detail?.event.id===s.id&&(this.detail={...this.detail,event:s}),e.action==="created"&&this.loadOverview()}else{let s=e.alert;if(this.detail?.event.id===s.event_id){let i=this.detail.alerts.some(r=>r.id===s.id)?this.detail.alerts.map(r=>r.id===s.id?s:r):[s,...this.detail.alerts];this.detail={...this.detail,alerts:i}}this.loadOverview()}}withinLoaded(e){let s=this.events[this.events.length-1];return!this.cursor||!s||e.started_at>=s.started_at}matchesFilters(e){let s=this.filters();return(!s.camera_id||e.camera_id===s.camera_id)&&(s.min_risk===void 0||(e.risk_score??0)>=s.min_risk)&&(s.reviewed===void 0||e.reviewed===s.reviewed)}updated(e){(e.has("detail")||e.has("detailError"))&&(this.detail||this.detailError)&&(e.get("detail")!==void 0||e.get("detailError")!==void 0||this.shadowRoot?.querySelector(".panel.detail .close")?.focus()),!this.firstPageMarked&&this.events.length&&this.shadowRoot?.querySelector(".event")&&(this.firstPageMarked=!0,performance.mark($t),performance.measure(bt,{start:this.openedAt,end:performance.now()})),this.observeEnd()}observeEnd(){let e=this.shadowRoot?.querySelector(".sentinel"),s=this.shadowRoot?.querySelector(".timeline");!e||!s||(this.observer||(this.observer=new IntersectionObserver(i=>{i.some(r=>r.isIntersecting)&&!this.loading&&this.loadPage(!1)},{root:s,rootMargin:"200px"})),this.observer.disconnect(),this.observer.observe(e))}cameraName(e){return this.server?.cameras.find(s=>s.id===e)?.name??e??""}setFilter(e){e(),this.events=[],this.cursor=null,this.loadPage(!0)}async openEvent(e,s=!1){let i=this.entryId;if(!this.hass||!i)return;let r=++this.detailRequest;s||(this.detailError=void 0,this.actionError=void 0);try{let o=await Fe(this.hass,i,e);r===this.detailRequest&&(!s||this.detail?.event.id===e)&&(this.detail=o)}catch(o){r===this.detailRequest&&!s&&(this.detailError=String(o.message??o))}}async act(e,s){this.busy=new Set([...this.busy,e]);try{await s()}catch(i){let r=String(i.message??i);this.detail?this.actionError=r:this.error=r}finally{let i=new Set(this.busy);i.delete(e),this.busy=i}}alertButtons(e){let s=this.entryId,i=e.status==="pending"||e.status==="delivered",r=this.busy.has(e.id);return a`<div class="actions">
      ${i?a`<button class="action primary acknowledge" ?disabled=${r}
              @click=${o=>{o.stopPropagation(),this.act(e.id,()=>me(this.hass,s,e.id,"acknowledge_alert"))}}>
              Acknowledge</button>`:c}
      ${e.status!=="dismissed"?a`<button class="action dismiss" ?disabled=${r}
              @click=${o=>{o.stopPropagation(),this.act(e.id,()=>me(this.hass,s,e.id,"dismiss_alert"))}}>
              Dismiss</button>`:c}
    </div>`}render(){if(!this.config||!this.hass)return a``;let e=this.server,s=e?.alerts??[];return a`<ha-card>
      <div class="header">
        <span>${this.config.title??"Security"}</span>
        ${s.length?a`<span class="badge">${s.length} open alert${s.length>1?"s":""}</span>`:c}
      </div>
      ${this.error?a`<div class="status error">${this.error}</div>`:c}
      ${e?.error?a`<div class="status error">${e.title} does not answer (${e.error}): its open alerts are not shown.</div>`:c}
      ${e?this.renderCameras(e):c}
      ${s.length?this.renderAlerts(s):c}
      ${e?this.renderFilters(e):c}
      ${this.renderTimeline()}
      ${this.detail||this.detailError?this.renderDetail():c}
      ${this.zoneCamera&&e?a`<hsi-zone-editor
            .hass=${this.hass}
            .entryId=${e.entry_id}
            .camera=${this.zoneCamera}
            .zones=${e.zones.filter(i=>i.camera_id===this.zoneCamera.id)}
            @zones-changed=${()=>{this.loadOverview()}}
            @close=${()=>this.zoneCamera=void 0}
          ></hsi-zone-editor>`:c}
    </ha-card>`}renderCameras(e){let s=this.hass?.user?.is_admin??!1;return a`<div class="cameras">
      ${e.cameras.map(i=>{let r=i.last_event?.risk_level??null,o=i.status==="online"?"var(--success-color, #43a047)":"var(--error-color, #db4437)",h=()=>this.setFilter(()=>this.cameraFilter=this.cameraFilter===i.id?"":i.id);return a`<div
          class="camera ${this.cameraFilter===i.id?"selected":""}"
          data-camera=${i.id}
          title="Show only ${i.name}"
          tabindex="0"
          role="button"
          aria-pressed=${this.cameraFilter===i.id?"true":"false"}
          @click=${h}
          @keydown=${fe(h)}
        >
          <img alt=${i.name} src=${i.detection_url??i.snapshot_url??""} />
          ${s?a`<button class="zones-button" @click=${l=>{l.stopPropagation(),this.zoneCamera=i}}>Zones</button>`:c}
          <div class="info">
            <span class="dot" style="background:${o}" title=${i.status}></span>
            <span class="name">${i.name}</span>
            ${r?a`<span class="chip" style="background:${w(r)}">${r}</span>`:c}
          </div>
        </div>`})}
    </div>`}renderAlerts(e){return a`<div class="section-title">Open alerts</div>
      ${e.map(s=>a`<div class="alert" data-alert=${s.id} style="border-color:${w(s.severity)}"
          tabindex="0" role="button"
          @click=${()=>{this.openEvent(s.event_id)}}
          @keydown=${fe(()=>{this.openEvent(s.event_id)})}>
          ${s.thumbnail_url?a`<img alt="" src=${s.thumbnail_url} />`:c}
          <div class="text">
            <div class="line">
              <span class="chip" style="background:${w(s.severity)}">${s.severity}</span>
              <span>${this.cameraName(s.camera_id)}</span>
              <span>${I(this.hass,s.created_at)}</span>
            </div>
            <div class="summary">${s.summary??ee(s.object_types)}</div>
          </div>
          ${this.alertButtons(s)}
        </div>`)}`}renderFilters(e){return a`<div class="filters">
      <select class="camera-filter" aria-label="Camera"
        @change=${s=>this.setFilter(()=>this.cameraFilter=s.target.value)}>
        <option value="" ?selected=${!this.cameraFilter}>All cameras</option>
        ${e.cameras.map(s=>a`<option value=${s.id} ?selected=${this.cameraFilter===s.id}>${s.name}</option>`)}
      </select>
      <select class="risk-filter" aria-label="Minimum risk"
        @change=${s=>this.setFilter(()=>this.minRisk=Number(s.target.value))}>
        ${Q.map(([s,i])=>a`<option value=${i} ?selected=${this.minRisk===i}>${i?`${s} and above`:"Any risk"}</option>`)}
      </select>
      <select class="reviewed-filter" aria-label="Reviewed"
        @change=${s=>this.setFilter(()=>this.reviewedFilter=s.target.value)}>
        <option value="all" ?selected=${this.reviewedFilter==="all"}>Reviewed and not</option>
        <option value="unreviewed" ?selected=${this.reviewedFilter==="unreviewed"}>Not reviewed</option>
        <option value="reviewed" ?selected=${this.reviewedFilter==="reviewed"}>Reviewed</option>
      </select>
    </div>`}renderTimeline(){let e=this.hass;return a`<div class="timeline">
      ${Ze(e,this.events).map(s=>a`<div class="day">${s.label}</div>
          ${s.events.map(i=>a`<div class="event ${i.reviewed?"reviewed":""}" data-event=${i.id}
              style="border-color:${w(i.risk_level)}" tabindex="0" role="button"
              @click=${()=>{this.openEvent(i.id)}}
              @keydown=${fe(()=>{this.openEvent(i.id)})}>
              ${i.thumbnail_url?a`<img alt="" loading="lazy" src=${i.thumbnail_url} />`:a`<div class="noimage"></div>`}
              <div class="text">
                <div class="line">
                  <span>${I(e,i.started_at)}</span>
                  <span>${this.cameraName(i.camera_id)}</span>
                  <span class="chip" style="background:${w(i.risk_level)}">
                    ${i.risk_level??"unscored"} ${i.risk_score??""}</span>
                  <span>${ee(i.object_types)}</span>
                  ${i.has_clip?a`<span title="has a clip">▶</span>`:c}
                </div>
                <div class="summary">${i.summary??""}</div>
              </div>
            </div>`)}`)}
      ${!this.loading&&!this.events.length&&!this.error?a`<div class="status">No events.</div>`:c}
      ${this.loading?a`<div class="status">Loading…</div>`:c}
      <div class="sentinel"></div>
    </div>`}renderDetail(){let e=this.hass,s=()=>{this.detail=void 0,this.detailError=void 0,this.actionError=void 0},i=d=>{d.key==="Escape"&&s()};if(!this.detail)return a`<div class="overlay" @click=${s} @keydown=${i}>
        <div class="panel detail" role="dialog" aria-modal="true" aria-label="Event">
          <div class="status error">${this.detailError}</div>
          <button class="action close" @click=${s}>Close</button>
        </div>
      </div>`;let{event:r,detections:o,alerts:h,zones:l}=this.detail,v=this.entryId,g=`review-${r.id}`;return a`<div class="overlay" @click=${s} @keydown=${i}>
      <div class="panel detail" role="dialog" aria-modal="true" aria-label="Event"
        @click=${d=>d.stopPropagation()}>
        <div class="panel-header">
          <span class="chip" style="background:${w(r.risk_level)}">${r.risk_level??"unscored"} ${r.risk_score??""}</span>
          <span class="title">${this.cameraName(r.camera_id)} · ${Be(e,r.started_at)}</span>
          <button class="action close" @click=${s}>Close</button>
        </div>
        ${r.clip_url?a`<video class="clip" controls preload="metadata" playsinline src=${r.clip_url}></video>`:c}
        <div class="field"><div class="label">Summary</div><div class="event-summary">${r.summary??"Not analysed yet."}</div></div>
        ${r.reasoning?a`<div class="field"><div class="label">Reasoning</div><div>${r.reasoning}</div></div>`:c}
        <div class="field"><div class="label">Objects</div><div>${ee(r.object_types)}</div></div>
        ${l.length?a`<div class="field"><div class="label">Zones</div><div class="zones-hit">${l.map(d=>d.name).join(", ")}</div></div>`:c}
        <div class="detections">
          ${o.map(d=>a`<figure>
              ${d.thumbnail_url?a`<img alt=${d.object_type??""} src=${d.thumbnail_url} />`:c}
              <figcaption>${d.object_type??"?"} ${d.confidence!==null?`${Math.round(d.confidence*100)} %`:""}
                ${d.detected_at?I(e,d.detected_at):""}</figcaption>
            </figure>`)}
        </div>
        ${h.map(d=>a`<div class="alert" data-alert=${d.id} style="border-color:${w(d.severity)}">
            <div class="text"><div class="line">
              <span class="chip" style="background:${w(d.severity)}">${d.severity}</span>
              <span class="alert-status">${d.status}</span>
              <span>${I(e,d.created_at)}</span>
            </div></div>
            ${this.alertButtons(d)}
          </div>`)}
        ${this.actionError?a`<div class="status error">${this.actionError}</div>`:c}
        <div class="actions">
          <button class="action review" ?disabled=${this.busy.has(g)}
            @click=${()=>{this.act(g,()=>je(e,v,r.id,!r.reviewed))}}>
            ${r.reviewed?"Mark not reviewed":"Mark reviewed"}</button>
        </div>
      </div>
    </div>`}};m.styles=se,p([$({attribute:!1})],m.prototype,"hass",2),p([u()],m.prototype,"config",2),p([u()],m.prototype,"overview",2),p([u()],m.prototype,"events",2),p([u()],m.prototype,"cursor",2),p([u()],m.prototype,"loading",2),p([u()],m.prototype,"error",2),p([u()],m.prototype,"cameraFilter",2),p([u()],m.prototype,"minRisk",2),p([u()],m.prototype,"reviewedFilter",2),p([u()],m.prototype,"detail",2),p([u()],m.prototype,"detailError",2),p([u()],m.prototype,"actionError",2),p([u()],m.prototype,"busy",2),p([u()],m.prototype,"zoneCamera",2),p([u()],m.prototype,"pageEntryId",2);qe([[q,m],[`${q}-editor`,P],["hsi-zone-editor",y]],()=>{window.customCards=window.customCards??[],window.customCards.some(n=>n.type===q)||window.customCards.push({type:q,name:"Home Security Intelligence",description:"Cameras, open alerts and a timeline of security events with thumbnails, clips and AI summaries.",preview:!0,documentationURL:"https://github.com/home-security-intelligence/home-security-intelligence/blob/main/docs/home-assistant.md#the-security-card"})});export{q as CARD_TYPE,m as HomeSecurityIntelligenceCard,$t as MARK_FIRST_PAGE,yt as MARK_OPENED,bt as MEASURE_FIRST_PAGE};
/*! Bundled license information:

@lit/reactive-element/css-tag.js:
  (**
   * @license
   * Copyright 2019 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)

@lit/reactive-element/reactive-element.js:
lit-html/lit-html.js:
lit-element/lit-element.js:
@lit/reactive-element/decorators/custom-element.js:
@lit/reactive-element/decorators/property.js:
@lit/reactive-element/decorators/state.js:
@lit/reactive-element/decorators/event-options.js:
@lit/reactive-element/decorators/base.js:
@lit/reactive-element/decorators/query.js:
@lit/reactive-element/decorators/query-all.js:
@lit/reactive-element/decorators/query-async.js:
@lit/reactive-element/decorators/query-assigned-nodes.js:
  (**
   * @license
   * Copyright 2017 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)

lit-html/is-server.js:
  (**
   * @license
   * Copyright 2022 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)

@lit/reactive-element/decorators/query-assigned-elements.js:
  (**
   * @license
   * Copyright 2021 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)
*/
