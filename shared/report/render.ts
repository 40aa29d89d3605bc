/**
 * Vega-Lite → Vega → SVG on the server, without a browser (a headless `vega.View` with renderer
 * 'none' and `toSVG()`), then SVG → PNG with resvg.
 */
import { Resvg } from '@resvg/resvg-js'
import * as vega from 'vega'
import * as vl from 'vega-lite'

/** The SVG text of a Vega-Lite specification. */
export const renderSvg = async (spec: Record<string, unknown>): Promise<string> => {
  const compiled = vl.compile(spec as unknown as vl.TopLevelSpec).spec
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/** PNG bytes of an SVG at `scale` × its size (2 by default, for sharp figures in a paper). */
export const svgToPng = (svg: string, scale = 2): Uint8Array => {
  const r = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
  return r.render().asPng()
}
