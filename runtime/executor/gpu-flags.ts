// WebGPU's usage and map-mode flags, so the runtime needs no globals (Dawn's Node binding sets
// them only once its package is loaded).
export const BufferUsage = {
  MAP_READ: 0x01,
  MAP_WRITE: 0x02,
  COPY_SRC: 0x04,
  COPY_DST: 0x08,
  STORAGE: 0x80,
  QUERY_RESOLVE: 0x200,
} as const;

export const TextureUsage = { COPY_DST: 0x02, TEXTURE_BINDING: 0x04 } as const;

export const MapMode = { READ: 0x1, WRITE: 0x2 } as const;
