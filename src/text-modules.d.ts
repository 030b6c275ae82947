// The console's files, bundled as text by the [[rules]] in wrangler.toml.
declare module '*.html' {
  const text: string;
  export default text;
}
declare module '*.css' {
  const text: string;
  export default text;
}
declare module '*/console/console.js' {
  const text: string;
  export default text;
}
